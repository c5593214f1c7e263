package io.paycode

import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.CoroutineStart
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.ExperimentalCoroutinesApi
import kotlinx.coroutines.channels.BufferOverflow
import kotlinx.coroutines.delay
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.MutableSharedFlow
import kotlinx.coroutines.flow.channelFlow
import kotlinx.coroutines.flow.distinctUntilChanged
import kotlinx.coroutines.flow.transformLatest
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext

/**
 * When the payment screen should ask for the state again (device wall-clock ms), or `null` when
 * only an event or a pushed state can change it.
 */
val PaymentCodeState.refreshAtMs: Long?
    get() = when (this) {
        is PaymentCodeState.Code -> code.refreshAtMs
        is PaymentCodeState.Loading -> untilMs
        is PaymentCodeState.Exhausted -> retryAtMs
        else -> null
    }

/**
 * The idiomatic Kotlin face of [Wallet]: a [Flow] of states to draw, `suspend` functions for the
 * network operations (run on [io]), exceptions ([WalletException]) for failures.
 *
 * [states] emits the current state on collection, every state the wallet pushes (after background
 * work: online codes, top-ups, logout), every state returned by [handle], and re-reads the state
 * when the shown one's [refreshAtMs] passes — so a collector shows a new code each step with no
 * timer of its own. Equal consecutive states are dropped. Several collectors may share it.
 *
 * The wallet itself does the work in Rust; this class only moves states between threads.
 */
class PayCodeWallet(
    /** The underlying wallet (for calls not wrapped here). Owned: [close] destroys it. */
    val wallet: Wallet,
    private val io: CoroutineDispatcher = Dispatchers.IO,
    private val nowMs: () -> Long = System::currentTimeMillis,
) : AutoCloseable {
    private val pushes = MutableSharedFlow<PaymentCodeState>(
        extraBufferCapacity = 64,
        onBufferOverflow = BufferOverflow.DROP_OLDEST,
    )

    // Called on a wallet worker thread: only hands the state over (never calls the wallet).
    private val listener = object : CodeListener {
        override fun onState(state: PaymentCodeState) {
            pushes.tryEmit(state)
        }
    }

    init {
        wallet.setListener(listener)
    }

    /** See the class documentation. Collect it on the main thread and draw each state. */
    @OptIn(ExperimentalCoroutinesApi::class)
    val states: Flow<PaymentCodeState> = channelFlow {
        // Subscribe before reading the current state, so no push in between is lost.
        launch(start = CoroutineStart.UNDISPATCHED) { pushes.collect { send(it) } }
        send(wallet.current())
    }.transformLatest { pushed ->
        var state = pushed
        while (true) {
            emit(state)
            val at = state.refreshAtMs ?: break
            delay((at - nowMs()).coerceAtLeast(0L))
            state = wallet.current()
        }
    }.distinctUntilChanged()

    /** What to show now (one boundary crossing; never blocks). */
    fun current(): PaymentCodeState = wallet.current()

    /** Forwards a platform event; the resulting state is also emitted by [states]. Never blocks. */
    fun handle(event: WalletEvent): PaymentCodeState =
        wallet.handle(event).also { pushes.tryEmit(it) }

    /** Whether a credential is loaded. */
    val isProvisioned: Boolean get() = wallet.isProvisioned()

    /** Registers this device with a login token. @throws WalletException */
    suspend fun provision(loginToken: String): Unit = withContext(io) { wallet.provision(loginToken) }

    /** Tops up / rotates credentials. @throws WalletException */
    suspend fun sync(): Unit = withContext(io) { wallet.sync() }

    /** Wipes local secrets, then tells the issuer; `true` if it confirmed. @throws WalletException */
    suspend fun logout(): Boolean = withContext(io) { wallet.logout() }

    /** Pauses payment codes at the issuer. @throws WalletException */
    suspend fun pause(): Unit = withContext(io) { wallet.pause() }

    /** Resumes payment codes. @throws WalletException */
    suspend fun resume(): Unit = withContext(io) { wallet.resume() }

    /** Stops pushes and frees the Rust wallet. */
    override fun close() {
        wallet.setListener(null)
        wallet.close()
    }
}
