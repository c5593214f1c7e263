package io.paycode.android

import android.app.Activity
import android.app.Application
import android.os.Bundle
import io.paycode.WalletEvent

/**
 * Foreground/background from activity lifecycle callbacks (no androidx needed): the app is in the
 * foreground while at least one of its activities is started. Emits [WalletEvent.Foreground] when
 * the first activity starts and [WalletEvent.Background] when the last one stops — except across a
 * configuration change (rotation), which is not a trip to the background.
 *
 * Register once: `application.registerActivityLifecycleCallbacks(AppVisibility(wallet::handle))`.
 * Callbacks arrive on the main thread; [sink] must not block (the wallet's `handle` does not).
 */
class AppVisibility(private val sink: (WalletEvent) -> Unit) : Application.ActivityLifecycleCallbacks {
    private var started = 0

    override fun onActivityStarted(activity: Activity) {
        started += 1
        if (started == 1) sink(WalletEvent.Foreground)
    }

    override fun onActivityStopped(activity: Activity) {
        started = (started - 1).coerceAtLeast(0)
        if (started == 0 && !activity.isChangingConfigurations) sink(WalletEvent.Background)
    }

    override fun onActivityCreated(activity: Activity, savedInstanceState: Bundle?) = Unit
    override fun onActivityResumed(activity: Activity) = Unit
    override fun onActivityPaused(activity: Activity) = Unit
    override fun onActivitySaveInstanceState(activity: Activity, outState: Bundle) = Unit
    override fun onActivityDestroyed(activity: Activity) = Unit
}
