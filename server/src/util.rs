//! Small helpers: randomness, ids, digests.

use sha2::{Digest, Sha256};

use crate::error::ApiError;

/// Fills `buf` from the OS CSPRNG; a failure is an internal error (nothing recorded).
pub fn random_fill(buf: &mut [u8]) -> Result<(), ApiError> {
    getrandom::fill(buf).map_err(|e| {
        tracing::error!(error = %e, "system random source failed");
        ApiError::internal()
    })
}

/// A random id with a readable kind prefix: `pay_` + 24 hex digits (96 bits).
pub fn random_id(kind: &str) -> Result<String, ApiError> {
    let mut bytes = [0u8; 12];
    random_fill(&mut bytes)?;
    Ok(format!("{kind}_{}", hex(&bytes)))
}

/// A time-ordered random id: `pay_` + 12 hex digits of Unix ms + 16 random hex digits. Rows
/// keyed by it are appended at the end of their index instead of dirtying a random page per
/// insert (what it reveals, the creation time, is in the row anyway).
pub fn ordered_id(kind: &str, now_ms: i64) -> Result<String, ApiError> {
    let mut bytes = [0u8; 8];
    random_fill(&mut bytes)?;
    Ok(format!("{kind}_{:012x}{}", now_ms.max(0), hex(&bytes)))
}

/// A uniformly random integer below `bound` (rejection sampling, no modulo bias).
pub fn random_below(bound: u64) -> Result<u64, ApiError> {
    let zone = u64::MAX - (u64::MAX % bound);
    loop {
        let mut bytes = [0u8; 8];
        random_fill(&mut bytes)?;
        let v = u64::from_le_bytes(bytes);
        if v < zone {
            return Ok(v % bound);
        }
    }
}

/// Lowercase hex (one allocation: it runs on every API-key check).
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

/// Lowercase hex SHA-256 of `data`.
pub fn sha256_hex(data: impl AsRef<[u8]>) -> String {
    hex(&Sha256::digest(data.as_ref()))
}

/// A random bearer secret: `prefix` + 43 base64url characters (256 bits).
pub fn random_token(prefix: &str) -> Result<String, ApiError> {
    use base64::Engine as _;
    let mut bytes = zeroize::Zeroizing::new([0u8; 32]);
    random_fill(&mut bytes[..])?;
    Ok(format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&bytes[..])
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn hex_is_lowercase_pairs() {
        assert_eq!(super::hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
        assert_eq!(super::hex(&[]), "");
    }
}
