//! JSON bodies of the user, merchant and admin endpoints (the device endpoints use
//! `paycode_core::wire`). Documented in `docs/API.md` and `docs/openapi.yaml`.

use serde::{Deserialize, Serialize};

/// `POST /v1/users`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    /// 1..=64 of `[A-Za-z0-9._@-]`.
    pub username: String,
    /// 8..=256 characters.
    pub password: String,
}

/// Answer to `POST /v1/users`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct UserResponse {
    /// The user's id.
    pub user_id: String,
    /// The name.
    pub username: String,
    /// Starting balance (minor units).
    pub balance: i64,
}

/// `POST /v1/login`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// The name.
    pub username: String,
    /// The password.
    pub password: String,
}

/// Answer to `POST /v1/login`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LoginResponse {
    /// Single-use provisioning token.
    pub login_token: String,
    /// When it stops working (Unix ms).
    pub expires_at_ms: i64,
}

/// `POST /v1/admin/merchants`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct CreateMerchantRequest {
    /// Display name, 1..=64 characters.
    pub name: String,
}

/// Answer to `POST /v1/admin/merchants`: the API key is shown once and stored hashed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct MerchantResponse {
    /// The merchant's id.
    pub merchant_id: String,
    /// The name.
    pub name: String,
    /// `Authorization: Bearer` key.
    pub api_key: String,
}

/// `POST /v1/payments`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PayRequest {
    /// The 18 digits the scanner read (spaces and dashes allowed).
    pub code: String,
    /// Minor units, > 0.
    pub amount: i64,
    /// ISO 4217 alphabetic code, e.g. "EUR".
    pub currency: String,
    /// 1..=128 printable ASCII characters, unique per merchant and payment attempt.
    pub idempotency_key: String,
    /// Optional: must be the API key's merchant if given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merchant_id: Option<String>,
}

/// A payment: the answer to `POST /v1/payments` and `GET /v1/payments/{id}`. It names no
/// customer: no user, no device, no stable reference (docs/API.md "Payment answers").
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PaymentResponse {
    /// Id.
    pub payment_id: String,
    /// "accepted" or "declined".
    pub status: String,
    /// Why declined (snake_case), `null` when accepted.
    pub reason: Option<String>,
    /// Human explanation of `reason`.
    pub message: Option<String>,
    /// The merchant.
    pub merchant_id: String,
    /// The merchant's idempotency key.
    pub idempotency_key: String,
    /// Minor units.
    pub amount: i64,
    /// ISO 4217.
    pub currency: String,
    /// "offline" or "online" when the code was recognised.
    pub code_kind: Option<String>,
    /// When the issuer decided (Unix ms).
    pub created_at_ms: i64,
}
