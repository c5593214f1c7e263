package io.paycode

import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.flow.take
import kotlinx.coroutines.flow.toList
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import kotlinx.coroutines.delay
import kotlin.test.Test
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertIs
import kotlin.test.assertNotEquals
import kotlin.test.assertTrue

/** The coroutine facade over the real wallet. */
class PayCodeWalletTest {
    private fun facade(f: Fixture) = PayCodeWallet(f.wallet, Dispatchers.IO, nowMs = { f.clock.nowMs() })

    @Test
    fun `suspend provisioning, then the flow shows a code`() = runBlocking {
        val f = Fixture()
        val wallet = facade(f)
        assertEquals(PaymentCodeState.NeedsLogin, wallet.states.first())
        f.issuer.allowLogin("tok")
        wallet.provision("tok")
        val state = withTimeout(5_000) { wallet.states.first { it is PaymentCodeState.Code } }
        f.issuer.redeem(assertIs<PaymentCodeState.Code>(state).code.digits)
        wallet.close()
    }

    @Test
    fun `failures are exceptions`() = runBlocking {
        val f = Fixture()
        val wallet = facade(f)
        assertFailsWith<WalletException.Rejected> { wallet.provision("unknown") }
        assertFailsWith<WalletException.NotProvisioned> { wallet.sync() }
        wallet.close()
    }

    @Test
    fun `events and pushed states reach collectors`() = runBlocking {
        val f = Fixture().provision()
        val wallet = facade(f)
        val states = async(Dispatchers.Default) { withTimeout(10_000) { wallet.states.take(3).toList() } }
        delay(500) // let the collector subscribe
        wallet.handle(WalletEvent.Background)
        wallet.handle(WalletEvent.Foreground)
        val seen = states.await()
        assertIs<PaymentCodeState.Code>(seen[0])
        assertEquals(PaymentCodeState.Hidden, seen[1])
        assertNotEquals(seen[0], assertIs<PaymentCodeState.Code>(seen[2]))
        wallet.close()
    }

    @Test
    fun `the flow re-reads the state when the code's refresh time passes`() = runBlocking {
        val f = Fixture().provision()
        val first = f.wallet.current().code()
        // Time is already past the refresh point: the flow must move on to the next step's code.
        f.clock.advanceMs(first.refreshAtMs - f.clock.nowMs())
        val wallet = facade(f)
        val two = withTimeout(5_000) { wallet.states.take(1).toList() }
        assertTrue(two.isNotEmpty())
        assertNotEquals(first.digits, two.first().let { (it as PaymentCodeState.Code).code.digits })
        wallet.close()
    }
}
