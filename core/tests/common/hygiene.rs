//! Searching captured output for secret bytes in every form they could be printed in.
#![allow(dead_code)]

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

/// The printable forms of `secret` (and of every 8-byte window of it, for partial leaks).
pub fn forms(secret: &[u8]) -> Vec<String> {
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let mut out = vec![
        hex(secret).to_uppercase(),
        STANDARD.encode(secret),
        URL_SAFE_NO_PAD.encode(secret),
        format!("{:?}", &secret[..8.min(secret.len())])
            .trim_end_matches(']')
            .to_owned(),
    ];
    out.extend(secret.windows(8).map(hex));
    out
}

/// Panics naming `what` if `text` holds `secret` in any printable form.
pub fn assert_absent(text: &str, secret: &[u8], what: &str) {
    let lower = text.to_lowercase();
    for form in forms(secret) {
        let found = if form.chars().all(|c| c.is_ascii_hexdigit()) {
            lower.contains(&form.to_lowercase())
        } else {
            text.contains(&form)
        };
        assert!(!found, "{what} appears in the output as {form:?}");
    }
}
