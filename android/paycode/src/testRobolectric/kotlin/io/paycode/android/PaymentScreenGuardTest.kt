package io.paycode.android

import android.app.Activity
import android.view.WindowManager
import io.paycode.WalletEvent
import org.junit.Test
import org.junit.runner.RunWith
import org.robolectric.Robolectric
import org.robolectric.RobolectricTestRunner
import org.robolectric.annotation.Config
import kotlin.test.assertEquals
import kotlin.test.assertTrue

@RunWith(RobolectricTestRunner::class)
class PaymentScreenGuardTest {
    private fun secureFlag(activity: Activity) =
        activity.window.attributes.flags and WindowManager.LayoutParams.FLAG_SECURE != 0

    @Test
    @Config(sdk = [35])
    fun `registers the capture callbacks on API 35 and applies FLAG_SECURE`() {
        val activity = Robolectric.buildActivity(Activity::class.java).setup().get()
        val events = mutableListOf<WalletEvent>()
        val guard = PaymentScreenGuard(activity, secure = true) { events.add(it) }
        guard.start()
        assertTrue(secureFlag(activity))
        assertTrue(PaymentScreenGuard.screenshotDetectionAvailable)
        assertTrue(PaymentScreenGuard.recordingDetectionAvailable)
        guard.stop()
        guard.stop() // idempotent
        assertEquals<List<WalletEvent>>(emptyList(), events) // nothing captured, nothing reported
    }

    @Test
    @Config(sdk = [35])
    fun `FLAG_SECURE can be cleared`() {
        val activity = Robolectric.buildActivity(Activity::class.java).setup().get()
        PaymentScreenGuard.setSecure(activity, true)
        assertTrue(secureFlag(activity))
        PaymentScreenGuard.setSecure(activity, false)
        assertEquals(false, secureFlag(activity))
    }
}
