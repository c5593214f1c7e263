//! The issuer's shared state: configuration, storage, verifier, clock and limiter.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use axum::http::{HeaderMap, header};
use paycode_core::verifier::{Verifier, VerifierConfig};
use paycode_core::{Clock, IssuerKeyring};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::{Config, ConfigError};
use crate::db::Db;
use crate::error::ApiError;
use crate::ratelimit::RateLimiter;
use crate::seeds::SeedSealer;
use crate::util::{random_id, random_token, sha256_hex};

/// Everything a request handler needs.
pub struct AppState {
    /// Configuration.
    pub config: Config,
    /// Storage.
    pub db: Db,
    /// The code verifier (holds the keyring).
    pub verifier: Verifier,
    /// The issuer's clock: every decision takes time from here.
    pub clock: Arc<dyn Clock>,
    /// Brute-force limits.
    pub limiter: RateLimiter,
    /// Seals the seeds the database holds (seeds.rs).
    pub seeds: SeedSealer,
    /// API-key digest → merchant id, filled on first use.
    merchants: RwLock<HashMap<String, String>>,
    signature_inserts: AtomicU64,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("engine", &self.db.engine)
            .field("verifier", &self.verifier)
            .finish_non_exhaustive()
    }
}

/// Why the issuer could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Bad configuration.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The database could not be opened or migrated.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// The keyring's prefix is not the configured one.
    #[error("the issuer keyring serves prefix {0}, the configuration says {1}")]
    PrefixMismatch(u8, u8),
    /// The keyring does not open the seeds in the database.
    #[error(
        "the issuer secrets do not open the device seeds in this database: start with the key file or PAYCODE_ISSUER_SECRET that wrote it"
    )]
    SeedsDoNotOpen,
    /// The system random source failed.
    #[error("the system random source failed: {0}")]
    Random(String),
}

/// Strips `Bearer ` from the `Authorization` header.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

impl AppState {
    /// Opens the database (running migrations) and assembles the state.
    pub async fn new(
        config: Config,
        keyring: IssuerKeyring,
        clock: Arc<dyn Clock>,
    ) -> Result<Arc<Self>, StartError> {
        config.validate()?;
        if keyring.prefix() != config.prefix {
            return Err(StartError::PrefixMismatch(
                keyring.prefix().get(),
                config.prefix.get(),
            ));
        }
        let db = Db::connect(&config.database_url).await?;
        let seeds = SeedSealer::new(&keyring);
        crate::seeds::seal_legacy(&db, &seeds).await?;
        let verifier = Verifier::new(
            keyring,
            VerifierConfig {
                time: config.time,
                skew_back: config.skew_back,
                skew_ahead: config.skew_ahead,
                refreshes: config.refreshes,
                v1_cutoff: config.v1_cutoff,
            },
            clock.clone(),
        );
        Ok(Arc::new(Self {
            limiter: RateLimiter::new(config.limits),
            seeds,
            config,
            db,
            verifier,
            clock,
            merchants: RwLock::new(HashMap::new()),
            signature_inserts: AtomicU64::new(0),
        }))
    }

    /// The newest key epoch of the keyring.
    pub fn latest_epoch(&self) -> u32 {
        self.verifier.keyring().epochs().last().map_or(0, |e| e.epoch)
    }

    /// Creates a merchant and returns `(merchant_id, api_key)`; the key is stored hashed only.
    pub async fn create_merchant(&self, name: &str) -> Result<(String, String), ApiError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 64 {
            return Err(ApiError::invalid(
                "invalid_field",
                "name must have 1 to 64 characters",
            ));
        }
        let merchant_id = random_id("mer")?;
        let api_key = random_token("pck_")?;
        sqlx::query(
            "INSERT INTO merchants (merchant_id, name, key_hash, created_ms) VALUES ($1, $2, $3, $4)",
        )
        .bind(&merchant_id)
        .bind(name)
        .bind(sha256_hex(&api_key))
        .bind(self.clock.now_ms())
        .execute(&self.db.write)
        .await?;
        tracing::info!(merchant_id, "merchant created");
        Ok((merchant_id, api_key))
    }

    /// The merchant whose API key is in `Authorization: Bearer`. Keys are looked up by their
    /// SHA-256 digest, so lookup timing says nothing usable about a key; the digest found is
    /// then compared in constant time.
    pub async fn authenticate_merchant(&self, headers: &HeaderMap) -> Result<String, ApiError> {
        let unauthorized = || {
            ApiError::unauthorized(
                "unauthorized",
                "send a merchant API key as `Authorization: Bearer <key>`",
            )
        };
        let key = bearer(headers).ok_or_else(unauthorized)?;
        let digest = sha256_hex(key);
        if let Some(id) = self
            .merchants
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&digest)
        {
            return Ok(id.clone());
        }
        let row: Option<(String, String)> =
            sqlx::query_as("SELECT merchant_id, key_hash FROM merchants WHERE key_hash = $1")
                .bind(&digest)
                .fetch_optional(&self.db.read)
                .await?;
        let (merchant_id, stored) = row.ok_or_else(unauthorized)?;
        if !bool::from(stored.as_bytes().ct_eq(digest.as_bytes())) {
            return Err(unauthorized());
        }
        self.merchants
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(digest, merchant_id.clone());
        Ok(merchant_id)
    }

    /// Checks the admin bearer token in constant time.
    pub fn authenticate_admin(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        let Some(expected) = &self.config.admin_token else {
            return Err(ApiError::forbidden(
                "admin_disabled",
                "admin endpoints are disabled: set PAYCODE_ADMIN_TOKEN",
            ));
        };
        let given = bearer(headers).unwrap_or("");
        let same: bool = Sha256::digest(given.as_bytes())
            .ct_eq(&Sha256::digest(expected.as_bytes()))
            .into();
        if same {
            Ok(())
        } else {
            Err(ApiError::unauthorized(
                "unauthorized",
                "a valid admin token is required",
            ))
        }
    }

    /// Records a device request signature; `false` if it was seen within the skew window.
    pub async fn remember_signature(&self, signature: &[u8], now_ms: i64) -> Result<bool, ApiError> {
        let window = paycode_core::wire::MAX_REQUEST_SKEW_MS;
        let done = sqlx::query(
            "INSERT INTO seen_signatures (sig_hash, expires_ms) VALUES ($1, $2) ON CONFLICT (sig_hash) DO NOTHING",
        )
        .bind(sha256_hex(signature))
        .bind(now_ms + 2 * window)
        .execute(&self.db.write)
        .await?;
        if self.signature_inserts.fetch_add(1, Ordering::Relaxed) % 256 == 255 {
            sqlx::query("DELETE FROM seen_signatures WHERE expires_ms < $1")
                .bind(now_ms)
                .execute(&self.db.write)
                .await?;
        }
        Ok(done.rows_affected() == 1)
    }
}
