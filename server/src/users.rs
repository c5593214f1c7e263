//! Users (demo/CLI accounts with a password), login tokens and the admin endpoint for merchants.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Argon2, Params};
use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};

use crate::api::{
    CreateMerchantRequest, CreateUserRequest, LoginRequest, LoginResponse, MerchantResponse, UserResponse,
};
use crate::body;
use crate::error::ApiError;
use crate::state::AppState;
use crate::util::{random_fill, random_id, random_token, sha256_hex};

fn argon2(strong: bool) -> Argon2<'static> {
    if strong {
        Argon2::default()
    } else {
        // Tests and benches only: 64 KiB, one pass.
        let params = Params::new(64, 1, 1, None).expect("valid argon2 parameters");
        Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
    }
}

async fn hash_password(password: String, strong: bool) -> Result<String, ApiError> {
    let mut salt = [0u8; 16];
    random_fill(&mut salt)?;
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::encode_b64(&salt).map_err(|_| ApiError::internal())?;
        argon2(strong)
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|_| ApiError::internal())
    })
    .await
    .map_err(|_| ApiError::internal())?
}

/// Password hashes computed to check a login, since the process started (see [`login`]).
static PASSWORD_CHECKS: AtomicU64 = AtomicU64::new(0);

/// How many password hashes the issuer computed to check logins: one per login, whether the
/// user exists or not (tests count them; the timing comparison is in docs/SECURITY.md).
pub fn password_checks() -> u64 {
    PASSWORD_CHECKS.load(Ordering::Relaxed)
}

/// A hash of a random password with the parameters in force, for logins of unknown users: the
/// answer then costs one hash computation either way, so its time does not say whether a user
/// name exists (issue 11).
fn dummy_hash(strong: bool) -> &'static str {
    static STRONG: OnceLock<String> = OnceLock::new();
    static FAST: OnceLock<String> = OnceLock::new();
    (if strong { &STRONG } else { &FAST }).get_or_init(|| {
        let mut bytes = [0u8; 32];
        let salt = [0x5au8; 16];
        // Random, never stored: no password matches it in practice.
        let _ = random_fill(&mut bytes);
        let salt = SaltString::encode_b64(&salt).expect("16 bytes encode");
        argon2(strong)
            .hash_password(&bytes, &salt)
            .map(|h| h.to_string())
            .expect("argon2 hashes 32 bytes")
    })
}

async fn verify_password(password: String, hash: Option<String>, strong: bool) -> bool {
    tokio::task::spawn_blocking(move || {
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| dummy_hash(strong).to_owned());
        let matches = PasswordHash::new(&hash)
            .map(|parsed| {
                PASSWORD_CHECKS.fetch_add(1, Ordering::Relaxed);
                argon2(strong)
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
            .unwrap_or(false);
        known && matches
    })
    .await
    .unwrap_or(false)
}

fn valid_username(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'@'))
}

/// `POST /v1/users`: open when `open_registration`, otherwise admin only.
pub async fn create_user(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<UserResponse>), ApiError> {
    let bytes = body::read(&headers, body, state.config.max_body_bytes).await?;
    let req: CreateUserRequest = body::json(&bytes)?;
    if !state.config.open_registration {
        state.authenticate_admin(&headers)?;
    }
    if !valid_username(&req.username) {
        return Err(ApiError::invalid(
            "invalid_field",
            "username must be 1 to 64 of A-Z a-z 0-9 . _ - @",
        ));
    }
    if !(8..=256).contains(&req.password.chars().count()) {
        return Err(ApiError::invalid(
            "invalid_field",
            "password must have 8 to 256 characters",
        ));
    }
    let taken = sqlx::query("SELECT user_id FROM users WHERE username = $1")
        .bind(&req.username)
        .fetch_optional(&state.db.read)
        .await?
        .is_some();
    if taken {
        return Err(ApiError::conflict("username_taken", "this username is taken"));
    }
    let hash = hash_password(req.password, state.config.strong_password_hashing).await?;
    let user_id = random_id("usr")?;
    let done = sqlx::query(
        "INSERT INTO users (user_id, username, password_hash, balance, created_ms) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (username) DO NOTHING",
    )
    .bind(&user_id)
    .bind(&req.username)
    .bind(&hash)
    .bind(state.config.initial_balance)
    .bind(state.clock.now_ms())
    .execute(&state.db.write)
    .await?;
    if done.rows_affected() == 0 {
        return Err(ApiError::conflict("username_taken", "this username is taken"));
    }
    tracing::info!(user_id, "user created");
    Ok((
        StatusCode::CREATED,
        Json(UserResponse {
            user_id,
            username: req.username,
            balance: state.config.initial_balance,
        }),
    ))
}

/// `POST /v1/login`: a single-use provisioning token.
pub async fn login(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<LoginResponse>, ApiError> {
    let bytes = body::read(&headers, body, state.config.max_body_bytes).await?;
    let req: LoginRequest = body::json(&bytes)?;
    let invalid = || ApiError::unauthorized("invalid_login", "wrong username or password");
    let row: Option<(String, String)> =
        sqlx::query_as("SELECT user_id, password_hash FROM users WHERE username = $1")
            .bind(&req.username)
            .fetch_optional(&state.db.read)
            .await?;
    let (user_id, hash) = row.unzip();
    // An unknown user is checked against a dummy hash: same work, same answer.
    if !verify_password(req.password, hash, state.config.strong_password_hashing).await {
        return Err(invalid());
    }
    let user_id = user_id.ok_or_else(invalid)?;
    let token = random_token("plt_")?;
    let expires_at_ms = state.clock.now_ms() + state.config.login_token_ttl_ms;
    sqlx::query("INSERT INTO login_tokens (token_hash, user_id, expires_ms) VALUES ($1, $2, $3)")
        .bind(sha256_hex(&token))
        .bind(&user_id)
        .bind(expires_at_ms)
        .execute(&state.db.write)
        .await?;
    tracing::info!(user_id, "login token issued");
    Ok(Json(LoginResponse {
        login_token: token,
        expires_at_ms,
    }))
}

/// `POST /v1/admin/merchants`.
pub async fn create_merchant(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<MerchantResponse>), ApiError> {
    let bytes = body::read(&headers, body, state.config.max_body_bytes).await?;
    let req: CreateMerchantRequest = body::json(&bytes)?;
    state.authenticate_admin(&headers)?;
    let (merchant_id, api_key) = state.create_merchant(&req.name).await?;
    Ok((
        StatusCode::CREATED,
        Json(MerchantResponse {
            merchant_id,
            name: req.name.trim().to_owned(),
            api_key,
        }),
    ))
}
