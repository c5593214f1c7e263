package io.paycode

import java.io.File
import java.util.concurrent.ConcurrentHashMap
import java.util.concurrent.CopyOnWriteArrayList
import java.util.concurrent.LinkedBlockingQueue
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicInteger
import kotlinx.coroutines.delay

/** 2026-11-22T10:00:00Z: tests run on a test clock. */
const val T0_MS = 1_795_341_600_000L
val ISSUER_SECRET = ByteArray(32) { (0x40 + it).toByte() }

/** A minimal JSON reader for docs/test-vectors.json (objects, arrays, strings, integers). */
object Json {
    fun parse(text: String): Any? = Parser(text).run { value().also { skip(); check(i == s.length) { "trailing data" } } }

    private class Parser(val s: String) {
        var i = 0
        fun skip() { while (i < s.length && s[i].isWhitespace()) i++ }
        fun value(): Any? {
            skip()
            return when (val c = s[i]) {
                '{' -> obj()
                '[' -> arr()
                '"' -> str()
                't' -> { i += 4; true }
                'f' -> { i += 5; false }
                'n' -> { i += 4; null }
                else -> if (c == '-' || c.isDigit()) num() else error("unexpected '$c' at $i")
            }
        }
        fun obj(): Map<String, Any?> {
            val out = LinkedHashMap<String, Any?>()
            i++; skip()
            if (s[i] == '}') { i++; return out }
            while (true) {
                skip(); val k = str(); skip(); check(s[i++] == ':')
                out[k] = value(); skip()
                if (s[i++] == '}') return out
            }
        }
        fun arr(): List<Any?> {
            val out = ArrayList<Any?>()
            i++; skip()
            if (s[i] == ']') { i++; return out }
            while (true) {
                out.add(value()); skip()
                if (s[i++] == ']') return out
            }
        }
        fun str(): String {
            check(s[i++] == '"')
            val b = StringBuilder()
            while (s[i] != '"') {
                if (s[i] == '\\') {
                    i++
                    when (val e = s[i++]) {
                        'n' -> b.append('\n'); 't' -> b.append('\t'); 'u' -> { b.append(s.substring(i, i + 4).toInt(16).toChar()); i += 4 }
                        else -> b.append(e)
                    }
                } else b.append(s[i++])
            }
            i++
            return b.toString()
        }
        fun num(): Long {
            val start = i
            if (s[i] == '-') i++
            while (i < s.length && s[i].isDigit()) i++
            return s.substring(start, i).toLong()
        }
    }
}

/** The vectors of docs/test-vectors.json (path from -Dpaycode.vectors, else relative to the repo). */
@Suppress("UNCHECKED_CAST")
fun testVectors(): List<Map<String, Any?>> {
    val path = System.getProperty("paycode.vectors") ?: "docs/test-vectors.json"
    val root = Json.parse(File(path).readText()) as Map<String, Any?>
    return root["vectors"] as List<Map<String, Any?>>
}

/** A SecretStore in a map, with switches to fail like a locked or broken keystore. */
class MemoryStore : SecretStore {
    val entries = ConcurrentHashMap<String, ByteArray>()
    @Volatile var locked = false
    @Volatile var throwUnexpected = false
    val calls = AtomicInteger()

    private fun check() {
        calls.incrementAndGet()
        if (throwUnexpected) throw IllegalStateException("keystore exploded")
        if (locked) throw StoreException.Locked()
    }
    override fun put(name: String, value: ByteArray) { check(); entries[name] = value.copyOf() }
    override fun get(name: String): ByteArray? { check(); return entries[name]?.copyOf() }
    override fun delete(name: String) { check(); entries.remove(name) }
}

/**
 * The app's HTTP stack, as a test: routes the wallet's signed requests to the in-process
 * [TestIssuer] (as OkHttp would POST them) and can simulate no network, slowness and failures.
 */
class IssuerBackend(val issuer: TestIssuer) : Backend {
    @Volatile var offline = false
    @Volatile var delayMs = 0L
    @Volatile var failWith: Exception? = null
    val requests = CopyOnWriteArrayList<BackendRequest>()
    val threads = CopyOnWriteArrayList<String>()

    override suspend fun send(request: BackendRequest): BackendResponse {
        requests.add(request)
        threads.add(Thread.currentThread().name)
        if (delayMs > 0) delay(delayMs)
        failWith?.let { throw it }
        if (offline) throw BackendException.Offline()
        return issuer.handle(request)
    }
}

/** Records pushed states. */
class RecordingListener : CodeListener {
    val states = LinkedBlockingQueue<PaymentCodeState>()
    override fun onState(state: PaymentCodeState) { states.add(state) }
    fun next(timeoutMs: Long = 5_000): PaymentCodeState? = states.poll(timeoutMs, TimeUnit.MILLISECONDS)
}

/** A provisioned wallet, its issuer, store, backend and clock. */
class Fixture(config: WalletConfig = WalletConfig(policy = FallbackPolicy.OFFLINE_FIRST, platform = "jvm test")) : AutoCloseable {
    val clock = TestClock(T0_MS)
    val issuer = TestIssuer(ISSUER_SECRET, 28u, 7u, clock)
    val store = MemoryStore()
    val backend = IssuerBackend(issuer)
    val wallet = Wallet.withTestClock(config, store, backend, clock)

    fun provision(token: String = "login-" + System.nanoTime()): Fixture {
        issuer.allowLogin(token)
        wallet.provision(token)
        return this
    }

    override fun close() = wallet.close()
}

fun PaymentCodeState.code(): PaymentCode =
    (this as? PaymentCodeState.Code)?.code ?: throw AssertionError("expected a code, got $this")
