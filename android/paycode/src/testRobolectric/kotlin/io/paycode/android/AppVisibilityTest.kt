package io.paycode.android

import android.app.Activity
import io.paycode.WalletEvent
import org.junit.Test
import org.junit.runner.RunWith
import org.robolectric.Robolectric
import org.robolectric.RobolectricTestRunner
import kotlin.test.assertEquals

@RunWith(RobolectricTestRunner::class)
class AppVisibilityTest {
    private val events = mutableListOf<WalletEvent>()
    private val visibility = AppVisibility { events.add(it) }

    private fun activity() = Robolectric.buildActivity(Activity::class.java).also {
        it.get().application.registerActivityLifecycleCallbacks(visibility)
    }

    @Test
    fun `first start is foreground, last stop is background`() {
        val controller = activity().setup()
        assertEquals<List<WalletEvent>>(listOf(WalletEvent.Foreground), events)
        controller.pause().stop()
        assertEquals<List<WalletEvent>>(listOf(WalletEvent.Foreground, WalletEvent.Background), events)
        controller.start().resume()
        assertEquals(WalletEvent.Foreground, events.last())
        controller.get().application.unregisterActivityLifecycleCallbacks(visibility)
    }

    @Test
    fun `moving between two activities of the app is not a trip to the background`() {
        val app = Robolectric.buildActivity(Activity::class.java).get().application
        app.registerActivityLifecycleCallbacks(visibility)
        val first = Robolectric.buildActivity(Activity::class.java).setup()
        val second = Robolectric.buildActivity(Activity::class.java).create().start()
        first.pause().stop()
        second.resume()
        assertEquals<List<WalletEvent>>(listOf(WalletEvent.Foreground), events)
        second.pause().stop()
        assertEquals<List<WalletEvent>>(listOf(WalletEvent.Foreground, WalletEvent.Background), events)
        app.unregisterActivityLifecycleCallbacks(visibility)
    }

    @Test
    fun `rotation is not a trip to the background`() {
        val controller = activity().setup()
        controller.recreate()
        assertEquals<List<WalletEvent>>(listOf(WalletEvent.Foreground), events.distinct())
        assertEquals(false, WalletEvent.Background in events)
        controller.get().application.unregisterActivityLifecycleCallbacks(visibility)
    }
}
