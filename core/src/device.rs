//! The device key: one 32-byte secret from which the device derives an Ed25519 key that signs
//! its requests and an X25519 key (HPKE, RFC 9180) to which the issuer seals its credentials.
//! The secret never leaves the device's keystore; only the two public keys are sent.

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use hkdf::Hkdf;
use hpke::{Deserializable, Kem as _, Serializable, kem::X25519HkdfSha256};
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::entropy::{Entropy, EntropyError, random32};
use crate::identity::HKDF_SALT;

/// The device's root secret. Zeroized on drop, redacted in `Debug`.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct DeviceSecret([u8; 32]);

impl std::fmt::Debug for DeviceSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DeviceSecret([redacted])")
    }
}

/// The device's public keys, as registered with the issuer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DevicePublicKeys {
    /// Ed25519 public key that verifies the device's requests.
    pub signing: [u8; 32],
    /// X25519 public key that the issuer seals bundles to (HPKE).
    pub sealing: [u8; 32],
}

fn derive(secret: &[u8; 32], label: &[u8]) -> [u8; 32] {
    let hkdf = Hkdf::<Sha256>::new(Some(HKDF_SALT), secret);
    let mut out = [0u8; 32];
    // 32 bytes is a valid HKDF-SHA256 length.
    hkdf.expand(label, &mut out).expect("valid HKDF length");
    out
}

impl DeviceSecret {
    /// A new random device secret.
    pub fn generate(entropy: &dyn Entropy) -> Result<Self, EntropyError> {
        random32(entropy).map(Self)
    }

    /// Restores a secret from the keystore.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The bytes, to store in the keystore. Never log or return them to the app.
    pub fn expose_secret(&self) -> &[u8; 32] {
        &self.0
    }

    fn signing_key(&self) -> SigningKey {
        let mut seed = derive(&self.0, b"device signing key");
        let key = SigningKey::from_bytes(&seed);
        seed.zeroize();
        key
    }

    pub(crate) fn sealing_keypair(
        &self,
    ) -> (
        <X25519HkdfSha256 as hpke::Kem>::PrivateKey,
        <X25519HkdfSha256 as hpke::Kem>::PublicKey,
    ) {
        let mut ikm = derive(&self.0, b"device sealing key");
        let pair = X25519HkdfSha256::derive_keypair(&ikm);
        ikm.zeroize();
        pair
    }

    /// The public keys the issuer registers.
    pub fn public_keys(&self) -> DevicePublicKeys {
        let mut sealing = [0u8; 32];
        sealing.copy_from_slice(&self.sealing_keypair().1.to_bytes());
        DevicePublicKeys {
            signing: self.signing_key().verifying_key().to_bytes(),
            sealing,
        }
    }

    /// Signs a request (see [`request_message`]).
    pub fn sign_request(&self, path: &str, device_id: &str, timestamp_ms: i64, body: &[u8]) -> [u8; 64] {
        self.signing_key()
            .sign(&request_message(path, device_id, timestamp_ms, body))
            .to_bytes()
    }
}

/// The bytes a device signs for a request:
/// `"paycode/v1/request\n" ‖ path ‖ "\n" ‖ device_id ‖ "\n" ‖ decimal timestamp_ms ‖ "\n" ‖
/// lowercase hex SHA-256 of the body`.
pub fn request_message(path: &str, device_id: &str, timestamp_ms: i64, body: &[u8]) -> Vec<u8> {
    let digest = Sha256::digest(body);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("paycode/v1/request\n{path}\n{device_id}\n{timestamp_ms}\n{hex}").into_bytes()
}

/// Why a request signature is not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The registered public key is not a valid Ed25519 point.
    #[error("the device's registered key is invalid")]
    BadKey,
    /// The signature does not verify.
    #[error("the request signature does not verify")]
    BadSignature,
}

/// The issuer's check of a device request signature (strict Ed25519 verification).
pub fn verify_request(
    signing_public_key: &[u8; 32],
    path: &str,
    device_id: &str,
    timestamp_ms: i64,
    body: &[u8],
    signature: &[u8; 64],
) -> Result<(), SignatureError> {
    let key = VerifyingKey::from_bytes(signing_public_key).map_err(|_| SignatureError::BadKey)?;
    let signature = Signature::from_bytes(signature);
    key.verify_strict(&request_message(path, device_id, timestamp_ms, body), &signature)
        .map_err(|_| SignatureError::BadSignature)
}

/// Whether the issuer can seal to `bytes` as an X25519 public key (HPKE). Every 32 bytes
/// decode, but a point of small order (u = 0, 1, p−1, p, p+1, the two order-8 points, and their
/// encodings with the top bit set) gives the all-zero shared secret with every (clamped) scalar,
/// which RFC 9180 §7.1.4 makes an encapsulation error: such a key is refused here, so a client
/// sending one gets a field error rather than a sealing failure.
pub fn is_valid_sealing_key(bytes: &[u8; 32]) -> bool {
    type PublicKey = <X25519HkdfSha256 as hpke::Kem>::PublicKey;
    // A clamped scalar is a multiple of 8, so the DH result is zero exactly for the small-order
    // points, whichever ephemeral key `encap` draws: the check does not depend on chance.
    PublicKey::from_bytes(bytes).is_ok_and(|key| X25519HkdfSha256::encap(&key, None).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    struct FixedEntropy(u8);
    impl Entropy for FixedEntropy {
        fn fill(&self, buf: &mut [u8]) -> Result<(), EntropyError> {
            buf.fill(self.0);
            Ok(())
        }
    }

    #[test]
    fn signatures_bind_every_part() {
        let device = DeviceSecret::generate(&FixedEntropy(3)).unwrap();
        let keys = device.public_keys();
        let sig = device.sign_request("/v1/devices/d1/sync", "d1", 1_000, b"{}");
        assert_eq!(
            verify_request(&keys.signing, "/v1/devices/d1/sync", "d1", 1_000, b"{}", &sig),
            Ok(())
        );
        for (path, id, ts, body) in [
            ("/v1/devices/d1/void", "d1", 1_000, &b"{}"[..]),
            ("/v1/devices/d1/sync", "d2", 1_000, b"{}"),
            ("/v1/devices/d1/sync", "d1", 1_001, b"{}"),
            ("/v1/devices/d1/sync", "d1", 1_000, b"{ }"),
        ] {
            assert_eq!(
                verify_request(&keys.signing, path, id, ts, body, &sig),
                Err(SignatureError::BadSignature)
            );
        }
        let other = DeviceSecret::generate(&FixedEntropy(4)).unwrap().public_keys();
        assert_ne!(other, keys);
        assert!(is_valid_sealing_key(&keys.sealing));
    }

    #[test]
    fn small_order_sealing_keys_are_refused() {
        let p_minus = |d: u8| {
            let mut k = [0xff; 32];
            k[31] = 0x7f;
            k[0] = 0xff - d;
            k
        };
        let small_order = [
            [0u8; 32],
            {
                let mut k = [0u8; 32];
                k[0] = 1;
                k
            },
            p_minus(19), // p − 1
            p_minus(18), // p
            p_minus(17), // p + 1
            hex32("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),
            hex32("5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157"),
        ];
        for key in small_order {
            assert!(!is_valid_sealing_key(&key), "{key:02x?}");
            let mut high = key;
            high[31] |= 0x80;
            assert!(!is_valid_sealing_key(&high), "{high:02x?}");
        }
    }

    fn hex32(text: &str) -> [u8; 32] {
        let mut out = [0u8; 32];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).unwrap();
        }
        out
    }

    #[test]
    fn debug_is_redacted() {
        assert_eq!(
            format!("{:?}", DeviceSecret::from_bytes([9; 32])),
            "DeviceSecret([redacted])"
        );
    }
}
