package io.paycode

import java.util.Collections
import java.util.concurrent.CountDownLatch
import java.util.concurrent.Executors
import java.util.concurrent.TimeUnit
import kotlin.test.Test
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertFalse
import kotlin.test.assertIs
import kotlin.test.assertNotEquals
import kotlin.test.assertNotNull
import kotlin.test.assertTrue

/** The real wallet, provisioned through a Kotlin Backend by the in-process test issuer. */
class WalletTest {
    @Test
    fun `an unprovisioned wallet asks for login`(): Unit = Fixture().use { f ->
        assertEquals(PaymentCodeState.NeedsLogin, f.wallet.current())
        assertFalse(f.wallet.isProvisioned())
        assertFailsWith<WalletException.NotProvisioned> { f.wallet.sync() }
    }

    @Test
    fun `provisioning through the Kotlin backend gives codes the issuer accepts once`(): Unit = Fixture().provision().use { f ->
        assertTrue(f.wallet.isProvisioned())
        assertEquals(Operation.PROVISION, f.backend.requests.first().operation)
        assertTrue(f.store.entries.keys.any { it.startsWith("paycode.") }, "${f.store.entries.keys}")
        val code = f.wallet.current().code()
        assertEquals(CodeSource.OFFLINE, code.source)
        assertEquals(code.display, formatCode(code.digits))
        assertTrue(code.refreshAtMs > T0_MS && code.expiresAtMs > code.refreshAtMs)
        // One boundary crossing per code: asking again shows the same code.
        assertEquals(code, f.wallet.current().code())

        val redeemed = f.issuer.redeem(code.digits)
        assertEquals(0u.toUByte(), redeemed.counter)
        val again = assertFailsWith<RedeemException.Rejected> { f.issuer.redeem(code.digits) }
        assertEquals("Replayed", again.kind)
    }

    @Test
    fun `a new code every step`(): Unit = Fixture().provision().use { f ->
        val first = f.wallet.current().code()
        f.clock.advanceMs(first.refreshAtMs - f.clock.nowMs())
        val second = f.wallet.handle(WalletEvent.Tick).code()
        assertNotEquals(first.digits, second.digits)
        assertEquals(first.refreshAtMs + 60_000, second.refreshAtMs)
        f.issuer.redeem(second.digits)
    }

    @Test
    fun `screenshot, foreground, payment and manual refresh each show a never-shown code`(): Unit = Fixture().provision().use { f ->
        val seen = mutableSetOf(f.wallet.current().code().digits)
        for (event in listOf(WalletEvent.Screenshot, WalletEvent.Foreground, WalletEvent.PaymentCompleted, WalletEvent.ManualRefresh)) {
            val code = f.wallet.handle(event).code()
            assertTrue(seen.add(code.digits), "$event re-showed a code")
        }
        // The newest one pays; every older one is dead (voided by the screenshot's asynchronous
        // void if it has arrived, else superseded by the newer payment).
        f.issuer.redeem(seen.last())
        val old = assertFailsWith<RedeemException.Rejected> { f.issuer.redeem(seen.first()) }
        assertTrue(old.kind in setOf("Superseded", "Voided"), old.kind)
    }

    @Test
    fun `a screenshot voids the captured code at the issuer`(): Unit = Fixture().provision().use { f ->
        val captured = f.wallet.current().code()
        f.wallet.handle(WalletEvent.Screenshot).code()
        val deadline = System.currentTimeMillis() + 5_000
        while (Operation.VOID !in f.issuer.operations() && System.currentTimeMillis() < deadline) Thread.sleep(10)
        assertTrue(Operation.VOID in f.issuer.operations(), "no void sent: ${f.issuer.operations()}")
        assertEquals("Voided", assertFailsWith<RedeemException.Rejected> { f.issuer.redeem(captured.digits) }.kind)
    }

    @Test
    fun `background and capture hide the code, and showing again never re-shows it`(): Unit = Fixture().provision().use { f ->
        val before = f.wallet.current().code()
        assertEquals(PaymentCodeState.Hidden, f.wallet.handle(WalletEvent.Background))
        assertEquals(PaymentCodeState.Hidden, f.wallet.current())
        val fg = f.wallet.handle(WalletEvent.Foreground).code()
        assertNotEquals(before.digits, fg.digits)
        assertEquals(PaymentCodeState.Hidden, f.wallet.handle(WalletEvent.ScreenCaptureStarted))
        val after = f.wallet.handle(WalletEvent.ScreenCaptureStopped).code()
        assertNotEquals(fg.digits, after.digits)
        f.wallet.handle(WalletEvent.NetworkAvailable(false)).code()
        f.wallet.handle(WalletEvent.NetworkAvailable(true)).code()
    }

    @Test
    fun `ten codes per step, then exhausted until the next step`(): Unit = Fixture(WalletConfig(policy = FallbackPolicy.OFFLINE_ONLY)).provision().use { f ->
        f.wallet.current().code()
        var state: PaymentCodeState = f.wallet.current()
        repeat(9) { state = f.wallet.handle(WalletEvent.ManualRefresh) }
        assertIs<PaymentCodeState.Code>(state)
        val exhausted = f.wallet.handle(WalletEvent.ManualRefresh)
        assertIs<PaymentCodeState.Exhausted>(exhausted)
        f.clock.advanceMs(exhausted.retryAtMs - f.clock.nowMs())
        f.wallet.handle(WalletEvent.Tick).code()
    }

    @Test
    fun `a protocol-1 wallet moves to protocol 2 at its next sync, mid-window`(): Unit = Fixture(WalletConfig(policy = FallbackPolicy.OFFLINE_ONLY)).provision().use { f ->
        // Provisioned on protocol 1 (ten codes a step); a code shown before the switch, not paid yet.
        val before = f.wallet.current().code()
        f.issuer.switchToProtocol2()
        f.clock.advanceMs(20_000) // the sync comes in the middle of the code's step
        f.wallet.sync()
        val credEntries = f.store.entries.keys.count { it.contains(".cred.") }
        assertTrue(credEntries > 1, "the ~87 KB protocol-2 bundle is stored in chunks: ${f.store.entries.keys}")
        // The code made before the sync still pays within its window; the next one is a
        // protocol-2 code (a protocol-1 code of a step after the sync would be refused).
        f.issuer.redeem(before.digits)
        f.clock.advanceMs(60_000)
        val after = f.wallet.handle(WalletEvent.Tick).code()
        assertNotEquals(before.digits, after.digits)
        f.issuer.redeem(after.digits)
        // Protocol 2 has 4 codes a step (PROTOCOL.md §12.3): the 5th is Exhausted.
        var state: PaymentCodeState = f.wallet.current()
        repeat(3) { state = f.wallet.handle(WalletEvent.ManualRefresh) }
        assertIs<PaymentCodeState.Code>(state)
        assertIs<PaymentCodeState.Exhausted>(f.wallet.handle(WalletEvent.ManualRefresh))
    }

    @Test
    fun `codes keep coming offline, with no network at all`(): Unit = Fixture().provision().use { f ->
        f.backend.offline = true
        f.wallet.handle(WalletEvent.NetworkAvailable(false))
        repeat(5) {
            f.clock.advanceMs(60_000)
            f.issuer.redeem(f.wallet.handle(WalletEvent.Tick).code().digits)
        }
    }

    @Test
    fun `errors map to typed exceptions`() {
        Fixture().use { f ->
            val e = assertFailsWith<WalletException.Rejected> { f.wallet.provision("nobody") }
            assertEquals(401.toUShort(), e.status)
            assertEquals("invalid_login", e.code)
            assertTrue(e.toString().contains("invalid_login"), e.toString())
            assertEquals("the issuer refused (401 invalid_login): ${e.reason}", e.message)
            assertFailsWith<WalletException.InvalidInput> { f.wallet.provision("") }
        }
        Fixture().use { f ->
            f.issuer.allowLogin("t")
            f.backend.offline = true
            assertFailsWith<WalletException.Offline> { f.wallet.provision("t") }
            f.backend.offline = false
            f.backend.failWith = BackendException.Transport("TLS handshake failed")
            val e = assertFailsWith<WalletException.Network> { f.wallet.provision("t") }
            assertEquals("TLS handshake failed", e.reason)
            assertEquals("network error: TLS handshake failed", e.localizedMessage)
            // A Kotlin exception the Backend did not declare still arrives as a network error.
            f.backend.failWith = IllegalStateException("bug in the HTTP layer")
            val unexpected = assertFailsWith<WalletException.Network> { f.wallet.provision("t") }
            assertTrue(unexpected.reason.contains("bug in the HTTP layer"), unexpected.reason)
            f.backend.failWith = null
            f.store.locked = true
            assertFailsWith<WalletException.Locked> { f.wallet.provision("t") }
            f.store.locked = false
            f.store.throwUnexpected = true
            val store = assertFailsWith<WalletException.Store> { f.wallet.provision("t") }
            assertTrue(store.reason.contains("keystore exploded"), store.reason)
        }
    }

    @Test
    fun `a backend slower than the request timeout is cancelled`(): Unit = Fixture().use { f ->
        f.issuer.allowLogin("slow")
        f.backend.delayMs = 60_000 // the wallet's provisioning timeout is 10 s
        val started = System.nanoTime()
        assertFailsWith<WalletException.Timeout> { f.wallet.provision("slow") }
        val took = (System.nanoTime() - started) / 1_000_000
        assertTrue(took in 9_000..20_000, "gave up after $took ms")
    }

    @Test
    fun `the async Backend runs in Kotlin coroutines, off the calling thread`(): Unit = Fixture().provision().use { f ->
        assertTrue(f.backend.threads.none { it == Thread.currentThread().name }, "${f.backend.threads}")
    }

    @Test
    fun `a locked keystore shows Locked`(): Unit = Fixture().provision().use { f ->
        f.store.locked = true
        val reopened = Wallet.withTestClock(WalletConfig(FallbackPolicy.OFFLINE_FIRST), f.store, f.backend, f.clock)
        assertEquals(PaymentCodeState.Locked, reopened.current())
        f.store.locked = false
        reopened.handle(WalletEvent.Foreground).code()
        reopened.close()
    }

    @Test
    fun `credentials survive a restart of the app`(): Unit = Fixture().provision().use { f ->
        val shown = f.wallet.current().code()
        val reopened = Wallet.withTestClock(WalletConfig(FallbackPolicy.OFFLINE_FIRST), f.store, f.backend, f.clock)
        val code = reopened.current().code()
        assertNotEquals(shown.digits, code.digits) // never re-shown, even across restarts
        f.issuer.redeem(code.digits)
        reopened.close()
    }

    @Test
    fun `sync, pause, resume and logout`(): Unit = Fixture().provision().use { f ->
        f.wallet.sync()
        f.wallet.pause()
        assertEquals(PaymentCodeState.Paused, f.wallet.current())
        f.wallet.resume()
        f.wallet.current().code()
        assertTrue(f.wallet.logout())
        assertEquals(PaymentCodeState.NeedsLogin, f.wallet.current())
        assertTrue(f.store.entries.isEmpty(), "left in the store: ${f.store.entries.keys}")
        assertEquals(
            listOf(Operation.PROVISION, Operation.SYNC, Operation.PAUSE, Operation.RESUME, Operation.LOGOUT),
            f.issuer.operations().filter { it != Operation.VOID && it != Operation.ONLINE_CODE },
        )
    }

    @Test
    fun `a revoked device is told to log in`(): Unit = Fixture().provision().use { f ->
        val id = f.issuer.redeem(f.wallet.current().code().digits).deviceId
        f.issuer.revoke(id)
        val e = assertFailsWith<WalletException.Rejected> { f.wallet.sync() }
        assertEquals("device_revoked", e.code)
        assertEquals(PaymentCodeState.NeedsLogin, f.wallet.current())
    }

    @Test
    fun `the listener hears pushed states, and a throwing listener harms nothing`(): Unit = Fixture().use { f ->
        val listener = RecordingListener()
        f.wallet.setListener(listener)
        f.provision()
        assertNotNull(listener.next())
        f.wallet.setListener(object : CodeListener {
            override fun onState(state: PaymentCodeState) = throw IllegalStateException("UI bug")
        })
        f.wallet.logout()
        f.provision()
        f.wallet.current().code()
        f.wallet.setListener(null)
    }

    @Test
    fun `many threads at once`(): Unit = Fixture().provision().use { f ->
        val pool = Executors.newFixedThreadPool(8)
        val codes = Collections.synchronizedSet(HashSet<String>())
        val errors = Collections.synchronizedList(ArrayList<Throwable>())
        val done = CountDownLatch(8)
        repeat(8) { t ->
            pool.execute {
                try {
                    repeat(200) { i ->
                        when ((i + t) % 4) {
                            0 -> f.wallet.current()
                            1 -> f.wallet.handle(WalletEvent.Tick)
                            2 -> parseCode("281675652589992104")
                            else -> (f.wallet.handle(WalletEvent.ManualRefresh) as? PaymentCodeState.Code)?.let { codes.add(it.code.digits) }
                        }
                    }
                } catch (e: Throwable) {
                    errors.add(e)
                } finally {
                    done.countDown()
                }
            }
        }
        assertTrue(done.await(60, TimeUnit.SECONDS))
        pool.shutdown()
        assertEquals(emptyList(), errors)
        assertTrue(codes.size in 1..10, "${codes.size} distinct codes in one step")
    }
}
