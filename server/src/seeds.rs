//! Seeds at rest: the database never holds a device's OTP seed in clear.
//!
//! Each seed is sealed with ChaCha20-Poly1305 under a key derived (HKDF-SHA256) from the
//! issuer secret of the newest epoch, which lives outside the database (key file or
//! `PAYCODE_ISSUER_SECRET`). The device id is the associated data, so a sealed seed copied to
//! another row does not open. A database dump, backup, read replica or SQL injection therefore
//! yields no seed; forging a device's codes needs the issuer secret as well.
//!
//! Stored form (65 bytes): `0x53 ('S')` · epoch (u32, big-endian) · nonce (12 random bytes) ·
//! ciphertext (32) · tag (16). A 32-byte value is a seed stored by an issuer before sealing;
//! [`SeedSealer::seal_legacy`] seals those at start-up.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use hkdf::Hkdf;
use paycode_core::{IssuerKeyring, Seed};
use sha2::Sha256;
use sqlx::Row;
use zeroize::Zeroizing;

use crate::db::Db;
use crate::state::StartError;

const TAG: u8 = b'S';
const SEALED_LEN: usize = 1 + 4 + 12 + 32 + 16;
const HKDF_SALT: &[u8] = b"paycode issuer";
const HKDF_INFO: &[u8] = b"seed at rest v1";
const AAD_PREFIX: &[u8] = b"paycode seed v1\0";

/// Seals and opens seeds with keys derived from the keyring's epochs.
pub struct SeedSealer {
    /// (epoch, cipher), oldest first; seals with the last.
    ciphers: Vec<(u32, ChaCha20Poly1305)>,
}

impl std::fmt::Debug for SeedSealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let epochs: Vec<u32> = self.ciphers.iter().map(|(e, _)| *e).collect();
        f.debug_struct("SeedSealer")
            .field("epochs", &epochs)
            .finish_non_exhaustive()
    }
}

fn aad(device_id: &str) -> Vec<u8> {
    [AAD_PREFIX, device_id.as_bytes()].concat()
}

impl SeedSealer {
    /// One key per epoch of `keyring`.
    pub fn new(keyring: &IssuerKeyring) -> Self {
        let ciphers = keyring
            .epochs()
            .iter()
            .map(|e| {
                let hkdf = Hkdf::<Sha256>::new(Some(HKDF_SALT), e.secret.expose_secret());
                let mut key = Zeroizing::new([0u8; 32]);
                let info = [HKDF_INFO, &e.epoch.to_be_bytes()].concat();
                // 32 bytes is far below HKDF-SHA256's 8160-byte limit.
                hkdf.expand(&info, &mut key[..])
                    .expect("32 bytes is a valid HKDF-SHA256 output length");
                let cipher = ChaCha20Poly1305::new_from_slice(&key[..])
                    .expect("ChaCha20-Poly1305 takes a 32-byte key");
                (e.epoch, cipher)
            })
            .collect();
        Self { ciphers }
    }

    /// Seals `seed` for the device `device_id` under the newest epoch; `nonce` must be fresh
    /// random bytes.
    pub fn seal(&self, device_id: &str, seed: &[u8; 32], nonce: [u8; 12]) -> Vec<u8> {
        let (epoch, cipher) = self.ciphers.last().expect("a keyring always has an epoch");
        let sealed = cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: seed,
                    aad: &aad(device_id),
                },
            )
            .expect("a 32-byte message is far below ChaCha20-Poly1305's limit");
        let mut out = Vec::with_capacity(SEALED_LEN);
        out.push(TAG);
        out.extend_from_slice(&epoch.to_be_bytes());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    /// The seed sealed in `stored` for `device_id`; `None` if it is not a sealed seed of
    /// this device under a known epoch (or not authentic).
    pub fn open(&self, device_id: &str, stored: &[u8]) -> Option<Seed> {
        if stored.len() != SEALED_LEN || stored[0] != TAG {
            return None;
        }
        let epoch = u32::from_be_bytes(stored[1..5].try_into().ok()?);
        let nonce: [u8; 12] = stored[5..17].try_into().ok()?;
        let (_, cipher) = self.ciphers.iter().find(|(e, _)| *e == epoch)?;
        let seed = Zeroizing::new(
            cipher
                .decrypt(
                    &Nonce::from(nonce),
                    Payload {
                        msg: &stored[17..],
                        aad: &aad(device_id),
                    },
                )
                .ok()?,
        );
        Seed::try_from_slice(&seed)
    }

    /// Whether `stored` is a seed in clear, as issuers before sealing stored them.
    pub fn is_legacy(stored: &[u8]) -> bool {
        stored.len() == 32
    }
}

/// At start-up: seals every seed an older issuer stored in clear, and checks that the keyring
/// opens the database's sealed seeds (one of them) — an issuer started with the wrong secret
/// would otherwise decline every code as `unknown_device`.
pub async fn seal_legacy(db: &Db, sealer: &SeedSealer) -> Result<(), StartError> {
    let rows =
        sqlx::query("SELECT device_id, seed FROM devices WHERE seed IS NOT NULL AND length(seed) = 32")
            .fetch_all(&db.write)
            .await?;
    if !rows.is_empty() {
        let mut tx = db.write.begin().await?;
        for row in &rows {
            let device_id: String = row.try_get("device_id")?;
            let seed = Zeroizing::new(row.try_get::<Vec<u8>, _>("seed")?);
            let seed: &[u8; 32] = seed[..].try_into().expect("the query selects 32-byte seeds");
            let mut nonce = [0u8; 12];
            getrandom::fill(&mut nonce).map_err(|e| StartError::Random(e.to_string()))?;
            sqlx::query("UPDATE devices SET seed = $1 WHERE device_id = $2")
                .bind(sealer.seal(&device_id, seed, nonce))
                .bind(&device_id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        tracing::info!(
            devices = rows.len(),
            "sealed seeds stored in clear by an older issuer"
        );
    }
    let sample = sqlx::query("SELECT device_id, seed FROM devices WHERE seed IS NOT NULL LIMIT 1")
        .fetch_optional(&db.write)
        .await?;
    if let Some(row) = sample {
        let device_id: String = row.try_get("device_id")?;
        let stored: Vec<u8> = row.try_get("seed")?;
        if sealer.open(&device_id, &stored).is_none() {
            return Err(StartError::SeedsDoNotOpen);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use paycode_core::{IssuerSecret, Prefix};

    use super::*;

    fn sealer() -> SeedSealer {
        let mut keyring = IssuerKeyring::new(Prefix::DEFAULT, 1, IssuerSecret::from_bytes([1; 32]));
        assert!(keyring.rotate(2, 20_000, IssuerSecret::from_bytes([2; 32])));
        SeedSealer::new(&keyring)
    }

    #[test]
    fn sealed_seeds_open_only_for_their_device_and_keys() {
        let s = sealer();
        let seed = [7u8; 32];
        let sealed = s.seal("dev_a", &seed, [9; 12]);
        assert_eq!(sealed.len(), SEALED_LEN);
        assert_eq!(
            &sealed[1..5],
            &2u32.to_be_bytes(),
            "sealed under the newest epoch"
        );
        assert!(!sealed.windows(32).any(|w| w == seed), "no seed bytes in clear");
        assert_eq!(s.open("dev_a", &sealed), Some(Seed::from_bytes(seed)));
        assert_eq!(s.open("dev_b", &sealed), None, "moved to another device");
        // Every changed byte is refused.
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 0x10;
            assert_eq!(s.open("dev_a", &bad), None, "byte {i}");
        }
        assert_eq!(s.open("dev_a", &sealed[..64]), None);
        assert_eq!(
            s.open("dev_a", &seed),
            None,
            "a seed in clear is not a sealed seed"
        );
        // Another issuer secret opens nothing.
        let other = SeedSealer::new(&IssuerKeyring::new(
            Prefix::DEFAULT,
            2,
            IssuerSecret::from_bytes([3; 32]),
        ));
        assert_eq!(other.open("dev_a", &sealed), None);
        // An older epoch's seal still opens after a rotation.
        let old = SeedSealer::new(&IssuerKeyring::new(
            Prefix::DEFAULT,
            1,
            IssuerSecret::from_bytes([1; 32]),
        ));
        let sealed_v1 = old.seal("dev_a", &seed, [4; 12]);
        assert_eq!(s.open("dev_a", &sealed_v1), Some(Seed::from_bytes(seed)));
    }

    #[test]
    fn debug_names_epochs_only() {
        assert_eq!(format!("{:?}", sealer()), "SeedSealer { epochs: [1, 2], .. }");
    }
}
