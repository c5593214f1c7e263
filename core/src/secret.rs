//! Secret key material: fixed-size, zeroized on drop, `[redacted]` in `Debug`, compared in
//! constant time, and never `Display`ed or serialized by this crate.

use std::fmt;

use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

macro_rules! secret_key {
    ($(#[$doc:meta])* $name:ident, $len:expr) => {
        $(#[$doc])*
        #[derive(Clone, Zeroize, ZeroizeOnDrop)]
        pub struct $name([u8; $len]);

        impl $name {
            /// Length of this key in bytes.
            pub const LEN: usize = $len;

            /// Wraps key bytes. The caller should zeroize its own copy.
            pub fn from_bytes(bytes: [u8; $len]) -> Self {
                Self(bytes)
            }

            /// Copies key bytes from a slice of exactly [`Self::LEN`] bytes.
            pub fn try_from_slice(bytes: &[u8]) -> Option<Self> {
                <[u8; $len]>::try_from(bytes).ok().map(Self)
            }

            /// The key bytes, for the crypto that uses them. Never log or return them.
            pub fn expose_secret(&self) -> &[u8; $len] {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "([redacted])"))
            }
        }

        impl PartialEq for $name {
            /// Constant-time comparison.
            fn eq(&self, other: &Self) -> bool {
                self.0.ct_eq(&other.0).into()
            }
        }
        impl Eq for $name {}
    };
}

secret_key!(
    /// A device's OTP seed: 32 random bytes shared by one device and the issuer.
    Seed,
    32
);

secret_key!(
    /// An identity key: the AES-256 key of the FF1 cipher that hides (slot, counter) for one
    /// UTC day. Derived by the issuer from an [`IssuerSecret`]; devices hold the day keys of
    /// their offline-validity period.
    IdentityKey,
    32
);

secret_key!(
    /// The issuer's root secret for one identity-key epoch. Never leaves the issuer.
    IssuerSecret,
    32
);

/// Variable-length secret bytes (sealed bundles, store payloads): zeroized on drop, redacted in
/// `Debug`.
#[derive(Clone, Default, Zeroize, ZeroizeOnDrop)]
pub struct SecretBytes(Vec<u8>);

impl SecretBytes {
    /// Takes ownership of the bytes; they are zeroized when this value drops.
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// The secret bytes, for the code that must use them.
    pub fn expose_secret(&self) -> &[u8] {
        &self.0
    }

    /// Number of bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<Vec<u8>> for SecretBytes {
    fn from(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretBytes([redacted; {} bytes])", self.0.len())
    }
}

impl PartialEq for SecretBytes {
    /// Constant-time in the contents (the lengths are not secret).
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}
impl Eq for SecretBytes {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_bytes() {
        let seed = Seed::from_bytes([0xab; 32]);
        let shown = format!("{seed:?} {:?}", SecretBytes::new(vec![0xcd; 4]));
        assert!(
            !shown.contains("ab") && !shown.contains("171") && !shown.contains("cd"),
            "{shown}"
        );
        assert!(shown.contains("[redacted"));
    }

    #[test]
    fn equality_compares_contents() {
        assert_eq!(Seed::from_bytes([1; 32]), Seed::from_bytes([1; 32]));
        let mut other = [1; 32];
        other[31] = 2;
        assert_ne!(Seed::from_bytes([1; 32]), Seed::from_bytes(other));
        assert!(Seed::try_from_slice(&[0; 31]).is_none());
    }

    #[test]
    fn zeroize_clears_the_bytes() {
        let mut key = IdentityKey::from_bytes([7; 32]);
        key.zeroize();
        assert_eq!(key.expose_secret(), &[0; 32]);
        let mut bytes = SecretBytes::new(vec![9; 8]);
        bytes.zeroize();
        assert!(bytes.is_empty());
    }
}
