//! Storage: one SQL code path for SQLite and PostgreSQL through sqlx's `Any` driver.
//!
//! Every statement is written once, in the SQL both engines accept (`$n` placeholders in order
//! of first use, `ON CONFLICT … DO NOTHING`, no `RETURNING`, integers and text and bytes only).
//! The schema differs only in the byte type (`BLOB` / `BYTEA`), hence two migration folders.
//!
//! Concurrency: SQLite allows one writer at a time, so writes go through a pool of one
//! connection (no `SQLITE_BUSY` upgrades, writers queue in-process) and reads through a
//! separate pool; PostgreSQL uses one pool for both. Exactly-once never relies on that queue:
//! redemption is a conditional `UPDATE` of the device's watermark, which PostgreSQL's row locks
//! and SQLite's single writer both make atomic.

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Executor, Row};

/// Which engine a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// SQLite file.
    Sqlite,
    /// PostgreSQL server.
    Postgres,
}

/// The database: a write pool and a read pool (the same pool on PostgreSQL).
#[derive(Debug, Clone)]
pub struct Db {
    /// The engine.
    pub engine: Engine,
    /// Writes (one connection on SQLite).
    pub write: AnyPool,
    /// Reads.
    pub read: AnyPool,
}

/// A device row.
#[derive(Clone)]
pub struct DeviceRow {
    /// Issuer's id.
    pub device_id: String,
    /// Owner.
    pub user_id: String,
    /// Slot.
    pub slot: u32,
    /// OTP seed; `None` once logged out.
    pub seed: Option<Vec<u8>>,
    /// Ed25519 public key.
    pub signing_key: Vec<u8>,
    /// X25519 public key.
    pub sealing_key: Vec<u8>,
    /// "active", "paused", "revoked".
    pub status: String,
    /// Validity start (Unix s).
    pub valid_from: i64,
    /// Validity end (Unix s).
    pub valid_until: i64,
    /// Latest bundle sequence.
    pub sequence: i64,
    /// Newest key epoch its bundle covers.
    pub key_epoch: i64,
    /// Whether the device was sent a version-2 bundle (protocol 2, ADR 010).
    pub proto_v2: bool,
    /// Protocol-1 codes of steps starting before this Unix time are accepted.
    pub v1_until: i64,
}

impl std::fmt::Debug for DeviceRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceRow")
            .field("device_id", &self.device_id)
            .field("slot", &self.slot)
            .field("status", &self.status)
            .field("seed", &"[redacted]")
            .finish_non_exhaustive()
    }
}

/// Columns of [`DeviceRow`], in order.
pub const DEVICE_COLUMNS: &str = "device_id, user_id, slot, seed, signing_key, sealing_key, status, valid_from, \
     valid_until, sequence, key_epoch, proto_v2, v1_until";

impl DeviceRow {
    /// Reads a row selected with [`DEVICE_COLUMNS`].
    pub fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        let slot: i64 = row.try_get("slot")?;
        Ok(Self {
            device_id: row.try_get("device_id")?,
            user_id: row.try_get("user_id")?,
            slot: u32::try_from(slot).map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
            seed: row.try_get("seed")?,
            signing_key: row.try_get("signing_key")?,
            sealing_key: row.try_get("sealing_key")?,
            status: row.try_get("status")?,
            valid_from: row.try_get("valid_from")?,
            valid_until: row.try_get("valid_until")?,
            sequence: row.try_get("sequence")?,
            key_epoch: row.try_get("key_epoch")?,
            proto_v2: row.try_get::<i64, _>("proto_v2")? != 0,
            v1_until: row.try_get("v1_until")?,
        })
    }
}

/// A stored payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentRow {
    /// Id.
    pub payment_id: String,
    /// Merchant.
    pub merchant_id: String,
    /// The merchant's key.
    pub idempotency_key: String,
    /// SHA-256 of the request's code, amount and currency.
    pub request_hash: String,
    /// "accepted" or "declined".
    pub status: String,
    /// Why declined.
    pub reason: Option<String>,
    /// Device debited.
    pub device_id: Option<String>,
    /// User debited.
    pub user_id: Option<String>,
    /// Minor units.
    pub amount: i64,
    /// ISO 4217.
    pub currency: String,
    /// "offline" or "online".
    pub code_kind: Option<String>,
    /// When (Unix ms).
    pub created_ms: i64,
}

/// Columns of [`PaymentRow`], in order.
pub const PAYMENT_COLUMNS: &str = "payment_id, merchant_id, idempotency_key, request_hash, status, reason, \
     device_id, user_id, amount, currency, code_kind, created_ms";

impl PaymentRow {
    /// Reads a row selected with [`PAYMENT_COLUMNS`].
    pub fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            payment_id: row.try_get("payment_id")?,
            merchant_id: row.try_get("merchant_id")?,
            idempotency_key: row.try_get("idempotency_key")?,
            request_hash: row.try_get("request_hash")?,
            status: row.try_get("status")?,
            reason: row.try_get("reason")?,
            device_id: row.try_get("device_id")?,
            user_id: row.try_get("user_id")?,
            amount: row.try_get("amount")?,
            currency: row.try_get("currency")?,
            code_kind: row.try_get("code_kind")?,
            created_ms: row.try_get("created_ms")?,
        })
    }

    /// Inserts this payment unless the (merchant, idempotency key) is taken; returns whether it
    /// was inserted.
    pub async fn insert(&self, conn: &mut sqlx::AnyConnection) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "INSERT INTO payments (payment_id, merchant_id, idempotency_key, request_hash, status, reason, \
             device_id, user_id, amount, currency, code_kind, created_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
             ON CONFLICT (merchant_id, idempotency_key) DO NOTHING",
        )
        .bind(&self.payment_id)
        .bind(&self.merchant_id)
        .bind(&self.idempotency_key)
        .bind(&self.request_hash)
        .bind(&self.status)
        .bind(&self.reason)
        .bind(&self.device_id)
        .bind(&self.user_id)
        .bind(self.amount)
        .bind(&self.currency)
        .bind(&self.code_kind)
        .bind(self.created_ms)
        .execute(&mut *conn)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}

impl Db {
    /// Connects to `url` (`sqlite:PATH` or `postgres://…`) and runs the migrations.
    pub async fn connect(url: &str) -> Result<Self, sqlx::Error> {
        sqlx::any::install_default_drivers();
        let engine = if url.starts_with("sqlite:") {
            Engine::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Engine::Postgres
        } else {
            return Err(sqlx::Error::Configuration(
                "database URL must start with sqlite: or postgres://".into(),
            ));
        };
        let db = match engine {
            Engine::Sqlite => {
                let url = if url.contains('?') {
                    url.to_owned()
                } else {
                    format!("{url}?mode=rwc")
                };
                let options = AnyConnectOptions::from_str(&url)?;
                let pool = |max: u32| {
                    AnyPoolOptions::new()
                        .max_connections(max)
                        .min_connections(1)
                        .acquire_timeout(Duration::from_secs(10))
                        .after_connect(|conn, _| {
                            Box::pin(async move {
                                conn.execute("PRAGMA busy_timeout = 10000").await?;
                                conn.execute("PRAGMA synchronous = NORMAL").await?;
                                conn.execute("PRAGMA foreign_keys = ON").await?;
                                Ok(())
                            })
                        })
                };
                let write = pool(1).connect_with(options.clone()).await?;
                // WAL lets readers run beside the writer; it is a property of the file.
                sqlx::query("PRAGMA journal_mode = WAL").execute(&write).await?;
                sqlx::migrate!("./migrations/sqlite").run(&write).await?;
                let read = pool(4).connect_with(options).await?;
                Db { engine, write, read }
            }
            Engine::Postgres => {
                let pool = AnyPoolOptions::new()
                    .max_connections(24)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect(url)
                    .await?;
                sqlx::migrate!("./migrations/postgres").run(&pool).await?;
                Db {
                    engine,
                    write: pool.clone(),
                    read: pool,
                }
            }
        };
        Ok(db)
    }

    /// The device with `device_id`.
    pub async fn device(&self, device_id: &str) -> Result<Option<DeviceRow>, sqlx::Error> {
        let sql = format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE device_id = $1");
        sqlx::query(&sql)
            .bind(device_id)
            .fetch_optional(&self.read)
            .await?
            .map(|r| DeviceRow::from_row(&r))
            .transpose()
    }

    /// The devices in `slots` (absent slots are skipped).
    pub async fn devices_in_slots(&self, slots: &[u32]) -> Result<Vec<DeviceRow>, sqlx::Error> {
        if slots.is_empty() {
            return Ok(Vec::new());
        }
        let marks: Vec<String> = (1..=slots.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT {DEVICE_COLUMNS} FROM devices WHERE slot IN ({})",
            marks.join(", ")
        );
        let mut query = sqlx::query(&sql);
        for slot in slots {
            query = query.bind(i64::from(*slot));
        }
        query
            .fetch_all(&self.read)
            .await?
            .iter()
            .map(DeviceRow::from_row)
            .collect()
    }

    /// The payment of `merchant_id` with `idempotency_key`.
    pub async fn payment_by_key(
        &self,
        merchant_id: &str,
        idempotency_key: &str,
    ) -> Result<Option<PaymentRow>, sqlx::Error> {
        let sql =
            format!("SELECT {PAYMENT_COLUMNS} FROM payments WHERE merchant_id = $1 AND idempotency_key = $2");
        sqlx::query(&sql)
            .bind(merchant_id)
            .bind(idempotency_key)
            .fetch_optional(&self.read)
            .await?
            .map(|r| PaymentRow::from_row(&r))
            .transpose()
    }

    /// The payment with `payment_id`, read from the writer's view (after a lost insert race).
    pub async fn payment_by_key_fresh(
        &self,
        merchant_id: &str,
        idempotency_key: &str,
    ) -> Result<Option<PaymentRow>, sqlx::Error> {
        let sql =
            format!("SELECT {PAYMENT_COLUMNS} FROM payments WHERE merchant_id = $1 AND idempotency_key = $2");
        sqlx::query(&sql)
            .bind(merchant_id)
            .bind(idempotency_key)
            .fetch_optional(&self.write)
            .await?
            .map(|r| PaymentRow::from_row(&r))
            .transpose()
    }

    /// The payment with `payment_id`.
    pub async fn payment(&self, payment_id: &str) -> Result<Option<PaymentRow>, sqlx::Error> {
        let sql = format!("SELECT {PAYMENT_COLUMNS} FROM payments WHERE payment_id = $1");
        sqlx::query(&sql)
            .bind(payment_id)
            .fetch_optional(&self.read)
            .await?
            .map(|r| PaymentRow::from_row(&r))
            .transpose()
    }

    /// Rows in `table` (for tests and the bench; `table` is a fixed name, never input).
    pub async fn count(&self, table: &str) -> Result<i64, sqlx::Error> {
        assert!(table.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
        let row = sqlx::query(&format!("SELECT COUNT(*) AS n FROM {table}"))
            .fetch_one(&self.write)
            .await?;
        row.try_get("n")
    }

    /// A user's balance (minor units).
    pub async fn balance(&self, user_id: &str) -> Result<Option<i64>, sqlx::Error> {
        let row = sqlx::query("SELECT balance FROM users WHERE user_id = $1")
            .bind(user_id)
            .fetch_optional(&self.write)
            .await?;
        row.map(|r| r.try_get("balance")).transpose()
    }
}
