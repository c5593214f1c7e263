//! One-time passwords: HMAC-SHA1 with RFC 4226 dynamic truncation.
//!
//! [`hotp`] and [`totp`] are the textbook algorithms (RFC 4226, RFC 6238 with SHA-1 and T0 = 0)
//! and reproduce those RFCs' appendix vectors. [`truncated_hmac`] is the same truncation over an
//! arbitrary message; the payment code's OTP uses it (see `docs/PROTOCOL.md` §4).

use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;

type HmacSha1 = Hmac<Sha1>;

/// The smallest number of digits this module produces (RFC 4226 §5.3 requires at least 6).
pub const MIN_DIGITS: u32 = 6;
/// The largest number of digits this module produces.
pub const MAX_DIGITS: u32 = 8;

/// RFC 4226 HOTP: HMAC-SHA1 over the 8-byte big-endian `counter`, dynamically truncated to
/// `digits` decimal digits.
///
/// # Panics
/// If `digits` is outside `6..=8` — a programming error, like an out-of-range index.
pub fn hotp(key: &[u8], counter: u64, digits: u32) -> u32 {
    truncated_hmac(key, &counter.to_be_bytes(), digits)
}

/// RFC 6238 TOTP with SHA-1 and T0 = 0: [`hotp`] of `floor(unix_secs / step_secs)`.
///
/// # Panics
/// If `digits` is outside `6..=8`, or `step_secs` is 0.
pub fn totp(key: &[u8], unix_secs: u64, step_secs: u64, digits: u32) -> u32 {
    assert!(step_secs > 0, "totp: step_secs must be positive");
    hotp(key, unix_secs / step_secs, digits)
}

/// HMAC-SHA1 of `message` under `key`, reduced to `digits` decimal digits by RFC 4226 §5.3
/// dynamic truncation.
///
/// # Panics
/// If `digits` is outside `6..=8`.
pub fn truncated_hmac(key: &[u8], message: &[u8], digits: u32) -> u32 {
    assert!(
        (MIN_DIGITS..=MAX_DIGITS).contains(&digits),
        "OTP digits must be {MIN_DIGITS}..={MAX_DIGITS}, got {digits}"
    );
    // HMAC accepts keys of any length; `new_from_slice` cannot fail for it.
    let mut mac = HmacSha1::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(message);
    let tag = mac.finalize().into_bytes();
    let offset = usize::from(tag[19] & 0x0f);
    let binary =
        u32::from_be_bytes([tag[offset], tag[offset + 1], tag[offset + 2], tag[offset + 3]]) & 0x7fff_ffff;
    binary % 10u32.pow(digits)
}

/// The payment code's OTP (`docs/PROTOCOL.md` §4): 6 digits of [`truncated_hmac`] under the
/// device seed over the 21-byte message `routing ‖ step ‖ counter`, where `routing` is the
/// code's first 12 ASCII digits (prefix and identity field), `step` the 8-byte big-endian time
/// step and `counter` one byte.
pub fn payment_otp(seed: &crate::secret::Seed, routing: &[u8; 12], step: u64, counter: u8) -> u32 {
    let mut message = [0u8; 21];
    message[..12].copy_from_slice(routing);
    message[12..20].copy_from_slice(&step.to_be_bytes());
    message[20] = counter;
    truncated_hmac(seed.expose_secret(), &message, crate::code::OTP_DIGITS)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4226 Appendix D: the secret is ASCII "12345678901234567890", 6 digits.
    #[test]
    fn rfc4226_appendix_d() {
        let key = b"12345678901234567890";
        let expected = [
            755224, 287082, 359152, 969429, 338314, 254676, 287922, 162583, 399871, 520489,
        ];
        for (counter, want) in expected.iter().enumerate() {
            assert_eq!(hotp(key, counter as u64, 6), *want, "counter {counter}");
        }
    }

    /// RFC 6238 Appendix B, SHA-1 rows, 8 digits, 30-second steps (includes 2^32+ seconds).
    #[test]
    fn rfc6238_appendix_b_sha1() {
        let key = b"12345678901234567890";
        let rows: [(u64, u32); 6] = [
            (59, 94287082),
            (1111111109, 7081804),
            (1111111111, 14050471),
            (1234567890, 89005924),
            (2000000000, 69279037),
            (20000000000, 65353130),
        ];
        for (t, want) in rows {
            assert_eq!(totp(key, t, 30, 8), want, "T = {t}");
        }
    }

    #[test]
    fn digits_change_the_modulus() {
        let key = b"12345678901234567890";
        // RFC 4226 counter 0: the 31-bit value is 1284755224.
        assert_eq!(hotp(key, 0, 7), 4755224);
        assert_eq!(hotp(key, 0, 8), 84755224);
    }

    #[test]
    #[should_panic(expected = "OTP digits must be")]
    fn too_few_digits_is_refused() {
        hotp(b"k", 0, 5);
    }
}
