//! The issuer's identity secrets: one 32-byte secret per epoch, in a key file
//! (`epoch first_day hex` per line, `#` comments) or, for a single epoch, the
//! `PAYCODE_ISSUER_SECRET` variable (64 hex digits). A missing key file is created with a fresh
//! random secret (demo convenience), readable by its owner only.

use std::io::Write;
use std::path::Path;

use paycode_core::{IssuerKeyring, IssuerSecret, Prefix};
use zeroize::Zeroizing;

/// Why the secrets could not be loaded. Never contains secret bytes.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The file could not be read or written.
    #[error("issuer key file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A line is not `epoch first_day hex64`, or epochs are out of order.
    #[error(
        "issuer key file, line {0}: expected `epoch first_day <64 hex digits>` with increasing epochs and days"
    )]
    BadLine(usize),
    /// The variable is not 64 hex digits.
    #[error("PAYCODE_ISSUER_SECRET must be 64 hex digits")]
    BadVariable,
    /// The system random source failed.
    #[error("cannot generate an issuer secret: {0}")]
    Random(String),
}

fn parse_hex32(text: &str) -> Option<IssuerSecret> {
    let text = text.trim();
    if text.len() != 64 {
        return None;
    }
    let mut bytes = Zeroizing::new([0u8; 32]);
    for (i, chunk) in text.as_bytes().chunks(2).enumerate() {
        let s = std::str::from_utf8(chunk).ok()?;
        bytes[i] = u8::from_str_radix(s, 16).ok()?;
    }
    Some(IssuerSecret::from_bytes(*bytes))
}

/// Parses key-file text into a keyring for `prefix`.
pub fn parse_keyring(text: &str, prefix: Prefix) -> Result<IssuerKeyring, KeyError> {
    let mut ring: Option<IssuerKeyring> = None;
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let parts: Vec<&str> = line.split_whitespace().collect();
        let [epoch, first_day, hex] = parts[..] else {
            return Err(KeyError::BadLine(n + 1));
        };
        let epoch: u32 = epoch.parse().map_err(|_| KeyError::BadLine(n + 1))?;
        let first_day: u32 = first_day.parse().map_err(|_| KeyError::BadLine(n + 1))?;
        let secret = parse_hex32(hex).ok_or(KeyError::BadLine(n + 1))?;
        match &mut ring {
            None => ring = Some(IssuerKeyring::new(prefix, epoch, secret)),
            Some(r) => {
                if !r.rotate(epoch, first_day, secret) {
                    return Err(KeyError::BadLine(n + 1));
                }
            }
        }
    }
    ring.ok_or(KeyError::BadLine(0))
}

/// Loads the keyring: `PAYCODE_ISSUER_SECRET` if given (`env_secret`), else the key file at
/// `path`, creating it with a random epoch-1 secret if it does not exist.
pub fn load_or_create(
    path: &Path,
    env_secret: Option<&str>,
    prefix: Prefix,
) -> Result<IssuerKeyring, KeyError> {
    if let Some(hex) = env_secret {
        let secret = parse_hex32(hex).ok_or(KeyError::BadVariable)?;
        return Ok(IssuerKeyring::new(prefix, 1, secret));
    }
    let io = |source| KeyError::Io {
        path: path.display().to_string(),
        source,
    };
    match std::fs::read_to_string(path) {
        Ok(text) => parse_keyring(&Zeroizing::new(text), prefix),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut bytes = Zeroizing::new([0u8; 32]);
            getrandom::fill(&mut bytes[..]).map_err(|e| KeyError::Random(e.to_string()))?;
            let hex: Zeroizing<String> = Zeroizing::new(bytes.iter().map(|b| format!("{b:02x}")).collect());
            let text = Zeroizing::new(format!(
                "# paycode issuer secrets: epoch first_day secret. Keep private; add a line to rotate.\n1 0 {}\n",
                hex.as_str()
            ));
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                options.mode(0o600);
            }
            let mut file = options.open(path).map_err(io)?;
            file.write_all(text.as_bytes()).map_err(io)?;
            tracing::warn!(path = %path.display(), "generated a new issuer secret (epoch 1)");
            parse_keyring(&text, prefix)
        }
        Err(e) => Err(io(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_epochs_and_rejects_disorder() {
        let a = "11".repeat(32);
        let b = "22".repeat(32);
        let ring = parse_keyring(&format!("# c\n1 0 {a}\n2 20000 {b}\n"), Prefix::DEFAULT).unwrap();
        assert_eq!(ring.epochs().len(), 2);
        assert!(matches!(
            parse_keyring(&format!("2 0 {a}\n1 5 {b}\n"), Prefix::DEFAULT),
            Err(KeyError::BadLine(2))
        ));
        assert!(parse_keyring("1 0 zz", Prefix::DEFAULT).is_err());
    }

    #[test]
    fn creates_a_missing_file_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys");
        let first = load_or_create(&path, None, Prefix::DEFAULT).unwrap();
        let again = load_or_create(&path, None, Prefix::DEFAULT).unwrap();
        assert_eq!(first.day_key(20_000), again.day_key(20_000));
        let shown = format!("{first:?}");
        let text = std::fs::read_to_string(&path).unwrap();
        let hex = text
            .lines()
            .last()
            .unwrap()
            .split_whitespace()
            .last()
            .unwrap()
            .to_owned();
        assert_eq!(hex.len(), 64);
        assert!(!shown.contains(&hex[..16]), "{shown}");
    }
}
