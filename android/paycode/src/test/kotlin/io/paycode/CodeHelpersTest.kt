package io.paycode

import kotlin.test.Test
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertTrue

/** The pure helpers against docs/test-vectors.json, through the real library. */
class CodeHelpersTest {
    private val vectors = testVectors()

    @Test
    fun `there are vectors`() {
        assertTrue(vectors.size >= 24, "only ${vectors.size} vectors")
    }

    @Test
    fun `parse and format agree with every vector`() {
        for (v in vectors) {
            val code = v["code"] as String
            val parsed = parseCode(code)
            assertEquals(code, parsed.digits, v["name"] as String)
            assertEquals(v["display"], parsed.display)
            assertEquals((v["prefix"] as Long).toUByte(), parsed.prefix)
            assertEquals((v["identity_field"] as String).toULong(), parsed.identity)
            assertEquals((v["otp"] as String).toUInt(), parsed.otp)
            assertEquals(v["display"], formatCode(code))
            assertEquals(parsed, parseCode(v["display"] as String))
            assertEquals(parsed, parseCode((v["display"] as String).replace(' ', '-')))
        }
    }

    @Test
    fun `the library computes every vector's code from its inputs`() {
        for (v in vectors) {
            val code = vectorCode(
                issuerSecretHex = v["issuer_secret"] as String,
                epoch = (v["epoch"] as Long).toUInt(),
                prefix = (v["prefix"] as Long).toUByte(),
                stepSecs = (v["step_secs"] as Long).toUInt(),
                slot = (v["slot"] as Long).toUInt(),
                seedHex = v["seed"] as String,
                unixTime = v["unix_time"] as Long,
                counter = (v["counter"] as Long).toUByte(),
            )
            assertEquals(v["code"], code, v["name"] as String)
        }
    }

    @Test
    fun `malformed codes raise typed exceptions with useful messages`() {
        val short = assertFailsWith<CodeException.WrongLength> { parseCode("2816 7565 2589 99210") }
        assertEquals(17u, short.found)
        assertEquals("a payment code has 18 digits, this has 17", short.toString())
        // Where apps look for the text: `message` and `localizedMessage` (not uniffi's "found=17").
        assertEquals("a payment code has 18 digits, this has 17", short.message)
        assertEquals("a payment code has 18 digits, this has 17", short.localizedMessage)

        val letter = assertFailsWith<CodeException.InvalidCharacter> { parseCode("28167565258999210a") }
        assertEquals("a", letter.character)
        assertEquals(17u, letter.position)
        assertEquals(
            "character \"a\" at position 17 is not an ASCII digit (only 0-9, spaces and dashes are allowed)",
            letter.message,
        )

        // Full-width digits are digits to Unicode, not to a payment terminal.
        val wide = assertFailsWith<CodeException.InvalidCharacter> { parseCode("２81675652589992104") }
        assertEquals("２", wide.character)
        assertEquals(0u, wide.position)

        val prefix = assertFailsWith<CodeException.InvalidPrefix> { formatCode("091675652589992104") }
        assertEquals(9.toUByte(), prefix.prefix)
        assertTrue(prefix.toString().contains("not a valid issuer prefix"), prefix.toString())
    }

    @Test
    fun `every facade error's message is the Rust Display text, and its typed fields stay`() {
        val cases: List<Pair<Exception, String>> = listOf(
            WalletException.NotProvisioned() to "this wallet is not provisioned: log in",
            WalletException.Locked() to "the keystore is locked: unlock the device",
            WalletException.Store("disk on fire") to "disk on fire",
            WalletException.Offline() to "no network connection",
            WalletException.Timeout() to "the issuer did not answer in time",
            WalletException.Network("reset") to "network error: reset",
            WalletException.Rejected(401u, "invalid_login", "unknown token") to
                "the issuer refused (401 invalid_login): unknown token",
            WalletException.BadResponse("no body") to "unexpected answer from the issuer: no body",
            WalletException.Bundle("bad seal") to "bad seal",
            WalletException.Entropy("no randomness") to "no randomness",
            WalletException.InvalidInput("empty token") to "invalid input: empty token",
            StoreException.Locked() to "the keystore is locked: unlock the device and try again",
            StoreException.Unavailable("gone") to "the keystore is unavailable: gone",
            StoreException.Corrupt("bad tag") to "a stored secret is corrupt: bad tag",
            BackendException.Offline() to "no network connection",
            BackendException.Timeout() to "the issuer did not answer in time",
            BackendException.Transport("TLS handshake failed") to "network error: TLS handshake failed",
            CodeException.InvalidPrefix(5u) to "prefix 05 is not a valid issuer prefix (10-99)",
        )
        for ((error, text) in cases) {
            assertEquals(text, error.message, error::class.simpleName)
            assertEquals(text, error.localizedMessage, error::class.simpleName)
            assertEquals(text, error.toString(), error::class.simpleName)
        }
        val rejected = WalletException.Rejected(403u, "device_revoked", "revoked")
        assertEquals(403.toUShort(), rejected.status)
        assertEquals("device_revoked", rejected.code)
    }

    @Test
    fun `a panic in Rust becomes an exception, not a crash`() {
        val e = assertFailsWith<InternalException> { testPanic("boom") }
        assertTrue(e.message!!.contains("boom"), e.message)
        // The library still works afterwards.
        assertEquals("2816 7565 2589 992104", formatCode("281675652589992104"))
    }

    @Test
    fun `noop crosses the boundary`() {
        repeat(1000) { noop() }
    }
}
