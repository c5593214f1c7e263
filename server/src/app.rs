//! The HTTP router and the server loop.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::routing::{get, post};
use serde_json::json;
use tokio::net::TcpListener;

use crate::error::ApiError;
use crate::state::AppState;
use crate::{devices, payments, users};

async fn health(State(state): State<Arc<AppState>>) -> Json<serde_json::Value> {
    Json(json!({
        "status": "ok",
        "prefix": state.config.prefix.get(),
        "step_secs": state.config.time.step_secs,
        "issuer_time_ms": state.clock.now_ms(),
    }))
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not take this method",
    )
}

/// Every endpoint of the issuer.
pub fn router(state: Arc<AppState>) -> Router {
    // Handlers read bodies themselves with `body::read`, which applies `max_body_bytes` and
    // answers 413 in JSON (after draining up to 2 MiB); axum's own limit is set above that.
    let backstop = (4 << 20).max(state.config.max_body_bytes + 1);
    Router::new()
        .route("/v1/health", get(health))
        .route("/v1/users", post(users::create_user))
        .route("/v1/login", post(users::login))
        .route("/v1/admin/merchants", post(users::create_merchant))
        .route("/v1/devices", post(devices::provision))
        .route("/v1/devices/{id}/sync", post(devices::sync))
        .route("/v1/devices/{id}/online-code", post(devices::online_code))
        .route("/v1/devices/{id}/void", post(devices::void))
        .route("/v1/devices/{id}/logout", post(devices::logout))
        .route("/v1/devices/{id}/pause", post(devices::pause))
        .route("/v1/devices/{id}/resume", post(devices::resume))
        .route("/v1/payments", post(payments::pay))
        .route("/v1/payments/{id}", get(payments::get_payment))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(backstop))
        .with_state(state)
}

/// Serves `state` on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let addr: SocketAddr = listener.local_addr()?;
    tracing::info!(%addr, "paycode issuer listening");
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}
