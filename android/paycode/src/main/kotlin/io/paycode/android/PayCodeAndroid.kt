package io.paycode.android

import android.app.Application
import android.os.Build
import io.paycode.Backend
import io.paycode.FallbackPolicy
import io.paycode.PayCodeWallet
import io.paycode.Wallet
import io.paycode.WalletConfig

/**
 * One-call setup for an app: the wallet over the Android Keystore store and the app's [Backend],
 * with foreground/background and connectivity forwarded as events. The payment activity adds a
 * [PaymentScreenGuard] for screenshots and recording.
 *
 * ```
 * val payCode = PayCodeAndroid.create(application, MyOkHttpBackend(baseUrl))
 * lifecycleScope.launch { payCode.states.collect { render(it) } }
 * ```
 * Reads the keystore once: call it from `Application.onCreate` or off the main thread.
 */
object PayCodeAndroid {
    fun create(
        application: Application,
        backend: Backend,
        policy: FallbackPolicy = FallbackPolicy.OFFLINE_FIRST,
        namespace: String = "paycode",
    ): PayCodeWallet {
        val config = WalletConfig(
            policy = policy,
            namespace = namespace,
            platform = "android ${Build.VERSION.RELEASE} (API ${Build.VERSION.SDK_INT})",
        )
        val wallet = PayCodeWallet(Wallet(config, AndroidKeystoreSecretStore(application), backend))
        application.registerActivityLifecycleCallbacks(AppVisibility { wallet.handle(it) })
        NetworkSignals(application) { wallet.handle(it) }.start()
        return wallet
    }
}
