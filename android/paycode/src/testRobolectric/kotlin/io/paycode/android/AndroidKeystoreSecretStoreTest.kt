package io.paycode.android

import io.paycode.StoreException
import java.io.File
import java.nio.file.Files
import javax.crypto.KeyGenerator
import org.junit.Test
import org.junit.runner.RunWith
import org.robolectric.RobolectricTestRunner
import kotlin.test.assertContentEquals
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertNull
import kotlin.test.assertTrue

/**
 * The file format and error mapping of the keystore store, with a software AES key standing in
 * for the AndroidKeyStore one (Robolectric has no AndroidKeyStore provider).
 */
@RunWith(RobolectricTestRunner::class)
class AndroidKeystoreSecretStoreTest {
    private val dir: File = Files.createTempDirectory("paycode-store").toFile()
    private val key = KeyGenerator.getInstance("AES").apply { init(256) }.generateKey()
    private val store = AndroidKeystoreSecretStore(dir) { key }

    @Test
    fun `round trip, overwrite and delete`() {
        assertNull(store.get("paycode.device"))
        store.put("paycode.device", byteArrayOf(1, 2, 3))
        assertContentEquals(byteArrayOf(1, 2, 3), store.get("paycode.device"))
        store.put("paycode.device", byteArrayOf(4))
        assertContentEquals(byteArrayOf(4), store.get("paycode.device"))
        store.delete("paycode.device")
        store.delete("paycode.device") // absent: fine
        assertNull(store.get("paycode.device"))
        assertEquals(emptyList(), dir.list()!!.filter { it.endsWith(".tmp") })
    }

    @Test
    fun `values are encrypted at rest`() {
        val secret = ByteArray(32) { 0x5a }
        store.put("paycode.cred.a", secret)
        val onDisk = File(dir, "paycode.cred.a.bin").readBytes()
        assertEquals(12 + 32 + 16, onDisk.size)
        assertTrue(onDisk.toList().windowed(8).none { w -> w.all { it == 0x5a.toByte() } })
    }

    @Test
    fun `a file moved to another entry or altered does not decrypt`() {
        store.put("paycode.cred.a", byteArrayOf(9, 9, 9))
        File(dir, "paycode.cred.a.bin").copyTo(File(dir, "paycode.cred.b.bin"))
        assertFailsWith<StoreException.Corrupt> { store.get("paycode.cred.b") }
        val file = File(dir, "paycode.cred.a.bin")
        val bytes = file.readBytes().also { it[it.size - 1] = (it[it.size - 1] + 1).toByte() }
        file.writeBytes(bytes)
        assertFailsWith<StoreException.Corrupt> { store.get("paycode.cred.a") }
        File(dir, "paycode.short.bin").writeBytes(ByteArray(5))
        assertFailsWith<StoreException.Corrupt> { store.get("paycode.short") }
    }

    @Test
    fun `unusual names stay inside the directory`() {
        store.put("../escape/name", byteArrayOf(1))
        assertContentEquals(byteArrayOf(1), store.get("../escape/name"))
        assertTrue(dir.listFiles()!!.all { it.parentFile == dir && it.name.startsWith("x-") })
    }

    @Test
    fun `keystore failures become Unavailable`() {
        val broken = AndroidKeystoreSecretStore(dir) { throw java.security.KeyStoreException("no keystore") }
        val e = assertFailsWith<StoreException.Unavailable> { broken.put("paycode.device", byteArrayOf(1)) }
        assertTrue(e.reason.contains("no keystore"), e.reason)
    }
}
