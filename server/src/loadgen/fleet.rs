//! Synthetic devices, written straight into the database (the provisioning API would take
//! hours for a million devices) and able to make their own codes.
//!
//! Device `i` has slot [`Fleet::slot`]`(i)`, a seed derived from its slot, id `dev_b{i}` and
//! belongs to user `usr_bench{i % users}`. Seeds are public by construction: this is test data.

use std::time::{Duration, Instant};

use paycode_core::identity::day_of_step;
use paycode_core::{
    IdentityKey, IssuerKeyring, OfflineCredential, PaymentCode, Prefix, Seed, Slot, TimeParams,
};
use sha2::{Digest, Sha256};

use crate::db::Engine;
use crate::state::AppState;

/// A fresh nonce for sealing a seed (seeds.rs).
fn random_nonce() -> Result<[u8; 12], sqlx::Error> {
    let mut nonce = [0u8; 12];
    getrandom::fill(&mut nonce).map_err(|e| sqlx::Error::Io(std::io::Error::other(e.to_string())))?;
    Ok(nonce)
}

/// Rows per `INSERT`: sqlx's SQLite binding looks parameters up by name, quadratic in their
/// count, so moderate statements insert fastest.
const BATCH_ROWS: usize = 64;
/// Rows per transaction.
const TX_ROWS: usize = 50_000;

/// A fleet of `devices` devices of `users` users, valid over `[valid_from, valid_until)`.
pub struct Fleet {
    /// Number of devices.
    pub devices: usize,
    /// Number of users.
    pub users: usize,
    /// Validity start (Unix s).
    pub valid_from: i64,
    /// Validity end (Unix s).
    pub valid_until: i64,
    prefix: Prefix,
    time: TimeParams,
    day_keys: Vec<(u32, IdentityKey)>,
}

impl Fleet {
    /// A fleet valid from an hour before `now_secs` to a day after, with the day keys of
    /// `keyring` precomputed.
    pub fn new(
        keyring: &IssuerKeyring,
        time: TimeParams,
        devices: usize,
        users: usize,
        now_secs: i64,
    ) -> Self {
        let (valid_from, valid_until) = (now_secs - 3_600, now_secs + 86_400);
        let day = |t: i64| day_of_step(time.step_at(t).unwrap_or(0), time.step_secs);
        let day_keys = (day(valid_from)..=day(valid_until - 1))
            .map(|d| (d, keyring.day_key(d)))
            .collect();
        Self {
            devices,
            users,
            valid_from,
            valid_until,
            prefix: keyring.prefix(),
            time,
            day_keys,
        }
    }

    /// Slot of device `i`: an injective scatter over 0..10^9 (7919 is prime, coprime to 10^9).
    pub fn slot(i: usize) -> Slot {
        ((i as u64 * 7_919 + 13) % 1_000_000_000) as Slot
    }

    /// The seed of the device in `slot`.
    pub fn seed(slot: Slot) -> [u8; 32] {
        Sha256::digest([b"bench seed ".as_slice(), &slot.to_be_bytes()].concat()).into()
    }

    /// Id of device `i`.
    pub fn device_id(i: usize) -> String {
        format!("dev_b{i}")
    }

    /// Id of user `u`.
    pub fn user_id(u: usize) -> String {
        format!("usr_bench{u}")
    }

    /// The `index`-th device of a scattered walk through the fleet: consecutive indices hit
    /// unrelated rows, and the first `devices` indices visit every device once (611,953 is
    /// prime, so coprime to any smaller fleet size).
    pub fn scatter(&self, index: usize) -> usize {
        ((index as u64 * 611_953) % self.devices as u64) as usize
    }

    /// The user of device `i`.
    pub fn user_of(&self, i: usize) -> usize {
        i % self.users
    }

    /// Device `i`'s credential, as its wallet would hold it.
    pub fn credential(&self, i: usize) -> OfflineCredential {
        let slot = Self::slot(i);
        OfflineCredential::new(
            slot,
            self.prefix,
            self.time,
            Seed::from_bytes(Self::seed(slot)),
            self.valid_from,
            self.valid_until,
            self.day_keys.clone(),
        )
        .expect("the fleet's day keys cover its validity")
    }

    /// Device `i`'s code for `step` and `counter`.
    pub fn code(&self, i: usize, step: u64, counter: u8) -> PaymentCode {
        self.credential(i)
            .code_for_step(step, counter)
            .expect("steps inside the fleet's validity have codes")
    }

    /// Inserts the users (balance `balance(u)`) and devices, then folds SQLite's WAL into the
    /// file (or analyzes PostgreSQL's tables): provisioning happened "earlier". Returns how long
    /// it took.
    pub async fn insert(
        &self,
        state: &AppState,
        balance: impl Fn(usize) -> i64,
    ) -> Result<Duration, sqlx::Error> {
        let db = &state.db;
        let started = Instant::now();
        let mut tx = db.write.begin().await?;
        for u in 0..self.users {
            sqlx::query(
                "INSERT INTO users (user_id, username, password_hash, balance, created_ms) VALUES ($1, $2, 'x', $3, 0)",
            )
            .bind(Self::user_id(u))
            .bind(format!("bench{u}"))
            .bind(balance(u))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        let mut i = 0;
        while i < self.devices {
            let mut tx = db.write.begin().await?;
            let chunk_end = (i + TX_ROWS).min(self.devices);
            while i < chunk_end {
                let n = BATCH_ROWS.min(chunk_end - i);
                let values: Vec<String> = (0..n)
                    .map(|r| {
                        let b = r * 6;
                        format!(
                            "(${}, ${}, ${}, ${}, ${}, ${}, 'bench', 'active', $1, $2, 1, 1, 0)",
                            b + 3,
                            b + 4,
                            b + 5,
                            b + 6,
                            b + 7,
                            b + 8
                        )
                    })
                    .collect();
                let sql = format!(
                    "INSERT INTO devices (device_id, user_id, slot, seed, signing_key, sealing_key, platform, status, \
                     valid_from, valid_until, sequence, key_epoch, created_ms) VALUES {}",
                    values.join(", ")
                );
                let mut query = sqlx::query(&sql).bind(self.valid_from).bind(self.valid_until);
                for k in i..i + n {
                    let slot = Self::slot(k);
                    query = query
                        .bind(Self::device_id(k))
                        .bind(Self::user_id(self.user_of(k)))
                        .bind(i64::from(slot))
                        .bind(
                            state
                                .seeds
                                .seal(&Self::device_id(k), &Self::seed(slot), random_nonce()?),
                        )
                        .bind(vec![0u8; 32])
                        .bind(vec![9u8; 32]);
                }
                query.execute(&mut *tx).await?;
                i += n;
            }
            tx.commit().await?;
        }
        match db.engine {
            Engine::Sqlite => {
                sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                    .execute(&db.write)
                    .await?;
            }
            Engine::Postgres => {
                sqlx::query("VACUUM ANALYZE").execute(&db.write).await?;
            }
        }
        Ok(started.elapsed())
    }
}
