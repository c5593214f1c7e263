package io.paycode.android

import android.content.Context
import android.os.Build
import android.security.keystore.KeyGenParameterSpec
import android.security.keystore.KeyPermanentlyInvalidatedException
import android.security.keystore.KeyProperties
import android.security.keystore.StrongBoxUnavailableException
import android.security.keystore.UserNotAuthenticatedException
import io.paycode.SecretStore
import io.paycode.StoreException
import java.io.File
import java.io.FileOutputStream
import java.io.IOException
import java.security.GeneralSecurityException
import java.security.KeyStore
import javax.crypto.AEADBadTagException
import javax.crypto.Cipher
import javax.crypto.KeyGenerator
import javax.crypto.SecretKey
import javax.crypto.spec.GCMParameterSpec

/**
 * The wallet's [SecretStore] on Android: every value is encrypted with AES-256-GCM under a key
 * that lives in the AndroidKeyStore (StrongBox when the device has one, else the TEE), and the
 * ciphertext is written to app-private, no-backup storage (`Context.noBackupFilesDir`), so it is
 * neither in cloud backups nor in device-to-device transfers — a restored phone must log in again.
 *
 * * The key is non-exportable; on API 28+ it is usable only while the device is unlocked
 *   (`setUnlockedDeviceRequired`): reading while locked raises [StoreException.Locked] and the
 *   wallet shows `Locked` until the user unlocks.
 * * Each file is `IV (12 bytes) ‖ ciphertext+tag`, with the entry name as associated data (a file
 *   renamed to another entry does not decrypt). Writes go to a temporary file, are synced, then
 *   renamed over the old one: each `put` is atomic, as the core requires.
 * * A key invalidated by the OS (e.g. the lock screen removed on some devices) makes entries
 *   [StoreException.Corrupt]: the wallet then asks the user to log in again.
 *
 * Thread-safe. Calls do file I/O and keystore operations (a few ms; StrongBox is slower):
 * the wallet calls them at provisioning and on state changes, not per code shown.
 */
class AndroidKeystoreSecretStore internal constructor(
    private val dir: File,
    private val keyProvider: () -> SecretKey,
) : SecretStore {

    /**
     * @param context any context (the application context is used).
     * @param keyAlias the AndroidKeyStore alias of the wrapping key.
     * @param directoryName the folder under `noBackupFilesDir` holding the ciphertexts.
     */
    constructor(
        context: Context,
        keyAlias: String = "io.paycode.secret-store",
        directoryName: String = "paycode-secrets",
    ) : this(File(context.applicationContext.noBackupFilesDir, directoryName), { keystoreKey(keyAlias) })

    private val lock = Any()

    override fun put(name: String, value: ByteArray) = guard {
        synchronized(lock) {
            dir.mkdirs()
            val cipher = Cipher.getInstance(TRANSFORMATION)
            cipher.init(Cipher.ENCRYPT_MODE, keyProvider())
            cipher.updateAAD(name.toByteArray(Charsets.UTF_8))
            val sealed = cipher.doFinal(value)
            val iv = cipher.iv
            check(iv.size == IV_BYTES) { "unexpected GCM IV length ${iv.size}" }
            val target = fileOf(name)
            val temp = File(dir, target.name + ".tmp")
            FileOutputStream(temp).use { out ->
                out.write(iv)
                out.write(sealed)
                out.fd.sync()
            }
            if (!temp.renameTo(target)) throw IOException("cannot replace ${target.name}")
        }
    }

    override fun get(name: String): ByteArray? = guard {
        synchronized(lock) {
            val file = fileOf(name)
            if (!file.exists()) return@guard null
            val bytes = file.readBytes()
            if (bytes.size < IV_BYTES + TAG_BITS / 8) throw StoreException.Corrupt("entry $name is truncated")
            val cipher = Cipher.getInstance(TRANSFORMATION)
            cipher.init(Cipher.DECRYPT_MODE, keyProvider(), GCMParameterSpec(TAG_BITS, bytes, 0, IV_BYTES))
            cipher.updateAAD(name.toByteArray(Charsets.UTF_8))
            cipher.doFinal(bytes, IV_BYTES, bytes.size - IV_BYTES)
        }
    }

    override fun delete(name: String) = guard {
        synchronized(lock) {
            val file = fileOf(name)
            if (file.exists() && !file.delete()) throw IOException("cannot delete ${file.name}")
        }
    }

    /** Entry names are the core's (`paycode.cred.a`…); anything unusual is hex-encoded. */
    private fun fileOf(name: String): File {
        val safe = if (name.isNotEmpty() && name.length <= 100 && name.all { it.isLetterOrDigit() && it.code < 128 || it in "._-" } && !name.startsWith(".")) {
            name
        } else {
            "x-" + name.toByteArray(Charsets.UTF_8).joinToString("") { "%02x".format(it) }
        }
        return File(dir, "$safe.bin")
    }

    /** Maps platform failures to the wallet's store errors. */
    private inline fun <T> guard(block: () -> T): T = try {
        block()
    } catch (e: StoreException) {
        throw e
    } catch (e: UserNotAuthenticatedException) {
        throw StoreException.Locked()
    } catch (e: KeyPermanentlyInvalidatedException) {
        throw StoreException.Corrupt("the keystore key was invalidated by the system: log in again")
    } catch (e: AEADBadTagException) {
        throw StoreException.Corrupt("an entry does not decrypt (altered, or another key)")
    } catch (e: GeneralSecurityException) {
        if (isLockedError(e)) throw StoreException.Locked()
        throw StoreException.Unavailable("keystore: ${e.javaClass.simpleName}: ${e.message}")
    } catch (e: IOException) {
        throw StoreException.Unavailable("storage: ${e.message}")
    }

    internal companion object {
        const val TRANSFORMATION = "AES/GCM/NoPadding"
        const val IV_BYTES = 12
        const val TAG_BITS = 128
        private const val PROVIDER = "AndroidKeyStore"

        /** Keystore errors that mean "device locked" (unlocked-device-required keys, API 28+). */
        fun isLockedError(e: Throwable): Boolean {
            var cause: Throwable? = e
            while (cause != null) {
                if (cause is UserNotAuthenticatedException) return true
                if (Build.VERSION.SDK_INT >= 33 && cause is android.security.KeyStoreException &&
                    cause.numericErrorCode == android.security.KeyStoreException.ERROR_USER_AUTHENTICATION_REQUIRED
                ) return true
                if (cause.message?.contains("Key user not authenticated") == true) return true
                cause = cause.cause
            }
            return false
        }

        /** The wrapping key: loaded, or generated on first use (StrongBox first, then the TEE). */
        @Synchronized
        fun keystoreKey(alias: String): SecretKey {
            val keyStore = KeyStore.getInstance(PROVIDER).apply { load(null) }
            (keyStore.getKey(alias, null) as? SecretKey)?.let { return it }
            if (Build.VERSION.SDK_INT >= 28) {
                try {
                    return generate(alias, strongBox = true)
                } catch (e: StrongBoxUnavailableException) {
                    // No secure element on this device: fall back to the TEE.
                }
            }
            return generate(alias, strongBox = false)
        }

        private fun generate(alias: String, strongBox: Boolean): SecretKey {
            val spec = KeyGenParameterSpec.Builder(alias, KeyProperties.PURPOSE_ENCRYPT or KeyProperties.PURPOSE_DECRYPT)
                .setKeySize(256)
                .setBlockModes(KeyProperties.BLOCK_MODE_GCM)
                .setEncryptionPaddings(KeyProperties.ENCRYPTION_PADDING_NONE)
                .setRandomizedEncryptionRequired(true)
            if (Build.VERSION.SDK_INT >= 28) {
                spec.setIsStrongBoxBacked(strongBox)
                spec.setUnlockedDeviceRequired(true)
            }
            val generator = KeyGenerator.getInstance(KeyProperties.KEY_ALGORITHM_AES, PROVIDER)
            generator.init(spec.build())
            return generator.generateKey()
        }
    }
}
