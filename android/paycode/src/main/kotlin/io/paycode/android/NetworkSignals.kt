package io.paycode.android

import android.content.Context
import android.net.ConnectivityManager
import android.net.Network
import android.net.NetworkCapabilities
import io.paycode.WalletEvent

/**
 * Connectivity as [WalletEvent.NetworkAvailable] events, from the default network callback
 * (API 24+). The wallet uses it to send pending voids and to decide on online codes; it never
 * needs the network to show an offline code. Callbacks arrive on a ConnectivityManager thread.
 */
class NetworkSignals(context: Context, private val sink: (WalletEvent) -> Unit) {
    private val connectivity = context.applicationContext.getSystemService(ConnectivityManager::class.java)

    private val callback = object : ConnectivityManager.NetworkCallback() {
        override fun onCapabilitiesChanged(network: Network, capabilities: NetworkCapabilities) {
            sink(WalletEvent.NetworkAvailable(capabilities.hasCapability(NetworkCapabilities.NET_CAPABILITY_VALIDATED)))
        }

        override fun onLost(network: Network) = sink(WalletEvent.NetworkAvailable(false))
    }

    /** Starts listening; the current state arrives as a first callback. */
    fun start() = connectivity.registerDefaultNetworkCallback(callback)

    /** Stops listening. */
    fun stop() = connectivity.unregisterNetworkCallback(callback)
}
