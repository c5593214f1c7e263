package io.paycode.android

import android.app.Activity
import android.os.Build
import android.view.WindowManager
import io.paycode.WalletEvent
import java.util.function.Consumer

/**
 * The payment screen's defences, for the activity that shows the code. Call [start] in
 * `onStart` and [stop] in `onStop`.
 *
 * * **Screenshots** (API 34+): `Activity.registerScreenCaptureCallback` → [WalletEvent.Screenshot]
 *   (the wallet voids the captured code and shows a new one). Below API 34 Android offers no
 *   screenshot signal; there, use [secure] = true (FLAG_SECURE) so screenshots come out black.
 *   The callback also does not fire for screenshots taken with adb or by other apps using
 *   MediaProjection — that is what recording detection and FLAG_SECURE are for.
 * * **Screen recording** (API 35+): `WindowManager.addScreenRecordingCallback` →
 *   [WalletEvent.ScreenCaptureStarted] / [WalletEvent.ScreenCaptureStopped] (the code is hidden
 *   while this window is being recorded). Below 35 there is no public signal.
 * * **FLAG_SECURE** ([secure]): the system blocks screenshots, recordings, casting and the recents
 *   thumbnail of this window. Strongest, but also stops the user from sharing a code on purpose.
 *   With FLAG_SECURE set, capture callbacks generally do not fire (nothing is captured).
 *
 * Requires the normal permissions DETECT_SCREEN_CAPTURE and DETECT_SCREEN_RECORDING, declared by
 * this library's manifest.
 */
class PaymentScreenGuard(
    private val activity: Activity,
    private val secure: Boolean = false,
    private val sink: (WalletEvent) -> Unit,
) {
    private var screenshotCallback: Activity.ScreenCaptureCallback? = null
    private var recordingCallback: Consumer<Int>? = null

    /** Registers the callbacks (and applies FLAG_SECURE if asked). Main thread. */
    fun start() {
        setSecure(activity, secure)
        if (Build.VERSION.SDK_INT >= 34 && screenshotCallback == null) {
            val callback = Activity.ScreenCaptureCallback { sink(WalletEvent.Screenshot) }
            activity.registerScreenCaptureCallback(activity.mainExecutor, callback)
            screenshotCallback = callback
        }
        if (Build.VERSION.SDK_INT >= 35 && recordingCallback == null) {
            val callback = Consumer<Int> { state -> onRecordingState(state) }
            val initial = activity.windowManager.addScreenRecordingCallback(activity.mainExecutor, callback)
            recordingCallback = callback
            if (initial == WindowManager.SCREEN_RECORDING_STATE_VISIBLE) onRecordingState(initial)
        }
    }

    /** Unregisters the callbacks. Main thread. */
    fun stop() {
        if (Build.VERSION.SDK_INT >= 34) {
            screenshotCallback?.let { activity.unregisterScreenCaptureCallback(it) }
        }
        screenshotCallback = null
        if (Build.VERSION.SDK_INT >= 35) {
            recordingCallback?.let { activity.windowManager.removeScreenRecordingCallback(it) }
        }
        recordingCallback = null
    }

    private var recording = false

    private fun onRecordingState(state: Int) {
        val now = Build.VERSION.SDK_INT >= 35 && state == WindowManager.SCREEN_RECORDING_STATE_VISIBLE
        if (now == recording) return
        recording = now
        sink(if (now) WalletEvent.ScreenCaptureStarted else WalletEvent.ScreenCaptureStopped)
    }

    companion object {
        /** Which signals this device can give: for the app's UI and logs. */
        val screenshotDetectionAvailable: Boolean get() = Build.VERSION.SDK_INT >= 34
        val recordingDetectionAvailable: Boolean get() = Build.VERSION.SDK_INT >= 35

        /** Sets or clears FLAG_SECURE on the activity's window. Main thread. */
        @JvmStatic
        fun setSecure(activity: Activity, secure: Boolean) {
            if (secure) {
                activity.window.addFlags(WindowManager.LayoutParams.FLAG_SECURE)
            } else {
                activity.window.clearFlags(WindowManager.LayoutParams.FLAG_SECURE)
            }
        }
    }
}
