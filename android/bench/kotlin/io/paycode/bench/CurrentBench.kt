package io.paycode.bench

import io.paycode.Backend
import io.paycode.BackendRequest
import io.paycode.BackendResponse
import io.paycode.FallbackPolicy
import io.paycode.PaymentCodeState
import io.paycode.SecretStore
import io.paycode.TestClock
import io.paycode.TestIssuer
import io.paycode.Wallet
import io.paycode.WalletConfig
import io.paycode.noop
import java.util.concurrent.ConcurrentHashMap

/**
 * The Kotlin cost of getting the code to show (`wallet.current()`), beside the floor of a uniffi
 * call measured in the same run: a free no-op function and a no-op method on the same object.
 * Each call is timed alone (System.nanoTime); the three kinds are interleaved in blocks so drift
 * and GC hit them alike. Usage: CurrentBench [callsPerKind] (default 200000).
 */
fun main(args: Array<String>) {
    val calls = args.firstOrNull()?.toInt() ?: 200_000
    val clock = TestClock(1_795_341_600_000L)
    val issuer = TestIssuer(ByteArray(32) { 7 }, 28u, 7u, clock)
    val store = object : SecretStore {
        val map = ConcurrentHashMap<String, ByteArray>()
        override fun put(name: String, value: ByteArray) { map[name] = value }
        override fun get(name: String): ByteArray? = map[name]
        override fun delete(name: String) { map.remove(name) }
    }
    val backend = object : Backend {
        override suspend fun send(request: BackendRequest): BackendResponse = issuer.handle(request)
    }
    val wallet = Wallet.withTestClock(WalletConfig(FallbackPolicy.OFFLINE_ONLY, platform = "bench"), store, backend, clock)
    issuer.allowLogin("bench")
    wallet.provision("bench")
    check(wallet.current() is PaymentCodeState.Code) { "no code to show" }

    val kinds = listOf<Pair<String, () -> Unit>>(
        "noop() free function" to { noop() },
        "wallet.noop() method" to { wallet.noop() },
        "wallet.current()" to { wallet.current() },
    )
    // Warm-up: JIT, JNA's method tables, the code cache.
    repeat(30_000) { for ((_, f) in kinds) f() }

    val samples = kinds.map { LongArray(calls) }
    val block = 1_000
    var done = 0
    while (done < calls) {
        val n = minOf(block, calls - done)
        for ((k, kind) in kinds.withIndex()) {
            val f = kind.second
            val out = samples[k]
            for (i in done until done + n) {
                val t0 = System.nanoTime()
                f()
                out[i] = System.nanoTime() - t0
            }
        }
        done += n
    }
    val medians = samples.map { it.sorted()[it.size / 2] }
    for ((k, kind) in kinds.withIndex()) {
        val sorted = samples[k].sorted()
        println("%-22s median %7.2f µs   p90 %7.2f µs   (%d calls)".format(
            kind.first, sorted[sorted.size / 2] / 1000.0, sorted[sorted.size * 9 / 10] / 1000.0, calls))
    }
    println("ratio current/noop-function %.2fx   current/noop-method %.2fx".format(
        medians[2].toDouble() / medians[0], medians[2].toDouble() / medians[1]))
    wallet.close()
}
