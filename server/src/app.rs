//! The HTTP router and the server loop.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderValue, Request, StatusCode, header};
use axum::routing::{get, post};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;

use paycode_core::SystemClock;

use crate::config::Config;
use crate::error::ApiError;
use crate::state::AppState;
use crate::{devices, keys, payments, users};

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

/// How long in-flight requests may finish after shutdown is asked for.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// The number of connections served at once: `config.max_connections`, lowered so that every
/// connection can have its file descriptor under the process's open-file limit with
/// [`FD_RESERVE`] left for the database, logs and the listener.
pub fn connection_cap(configured: usize) -> usize {
    match open_file_limit() {
        Some(limit) => configured.min(limit.saturating_sub(FD_RESERVE).max(1)),
        None => configured,
    }
    .max(1)
}

/// File descriptors kept for everything but client connections.
pub const FD_RESERVE: usize = 64;

#[cfg(unix)]
fn open_file_limit() -> Option<usize> {
    rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .current
        .and_then(|n| usize::try_from(n).ok())
}

#[cfg(not(unix))]
fn open_file_limit() -> Option<usize> {
    None
}

/// The request body ran past the body timeout.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within the body timeout")]
pub struct BodyTimeout;

/// A request body that fails with [`BodyTimeout`] once its deadline passes: a total deadline for
/// the whole body, not a per-chunk one, so trickling bytes does not extend it.
struct DeadlineBody {
    inner: Body,
    deadline: Pin<Box<tokio::time::Sleep>>,
}

impl http_body::Body for DeadlineBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.inner).poll_frame(cx) {
            return Poll::Ready(frame);
        }
        match self.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(axum::Error::new(BodyTimeout)))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// Serves `state` on `listener` until `shutdown` resolves, then lets requests in flight finish
/// (at most [`SHUTDOWN_GRACE`]) and returns.
///
/// Every connection is HTTP/1.1 with three limits from the configuration: a complete request
/// head must arrive within `header_timeout` of the connection opening or of the previous answer
/// (idle keep-alive connections and trickled headers are closed), a body within `body_timeout`
/// of its head (408 `request_timeout`, then the connection is closed), and at most
/// [`connection_cap`] connections are open at once (further ones wait in the listen backlog).
pub async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let addr: SocketAddr = listener.local_addr()?;
    let header_timeout = state.config.header_timeout;
    let body_timeout = state.config.body_timeout;
    let cap = connection_cap(state.config.max_connections);
    let slots = Arc::new(Semaphore::new(cap));
    let app = router(state);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .keep_alive(true);
    let graceful = GracefulShutdown::new();
    tracing::info!(
        %addr,
        max_connections = cap,
        header_timeout_ms = header_timeout.as_millis() as u64,
        body_timeout_ms = body_timeout.as_millis() as u64,
        "paycode issuer listening"
    );
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        // A free connection slot first: past the cap, connections wait in the kernel's backlog.
        let permit = tokio::select! {
            permit = slots.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = shutdown.as_mut() => break,
        };
        let (stream, _peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    drop(permit);
                    accept_error(e).await;
                    continue;
                }
            },
            () = shutdown.as_mut() => break,
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let service = hyper::service::service_fn(move |request: Request<Incoming>| {
            let deadline = Box::pin(tokio::time::sleep(body_timeout));
            let request = request.map(|inner| {
                Body::new(DeadlineBody {
                    inner: Body::new(inner),
                    deadline,
                })
            });
            let answer = app.clone().oneshot(request);
            async move {
                let mut response = answer.await?;
                if response.status() == StatusCode::REQUEST_TIMEOUT {
                    // The rest of the body may never come: do not wait for it on this connection.
                    response
                        .headers_mut()
                        .insert(header::CONNECTION, HeaderValue::from_static("close"));
                }
                Ok::<_, std::convert::Infallible>(response)
            }
        });
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            // Errors here are the client's (reset, timeout, malformed request): not ours to log.
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection closed");
            }
            drop(permit);
        });
    }
    drop(listener);
    tracing::info!("shutting down: no new connections, finishing requests in flight");
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("requests still in flight after the grace period were cut off");
    }
    Ok(())
}

async fn accept_error(e: std::io::Error) {
    use std::io::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::ConnectionRefused | ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset
    ) {
        return;
    }
    // Out of file descriptors or similar: wait for connections to close rather than spin.
    tracing::warn!(error = %e, "cannot accept a connection");
    tokio::time::sleep(Duration::from_millis(100)).await;
}

/// Resolves at the first SIGTERM or SIGINT (Ctrl-C): the signal to shut down gracefully.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = terminate.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch SIGTERM; Ctrl-C only");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    tracing::info!("shutdown signal received");
}

/// Logs to stderr, filtered by `RUST_LOG` (default `info`).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

/// The issuer as configured by the `PAYCODE_*` variables (docs/API.md, "Configuration"): the
/// configuration is checked first, then the key file is read (or created) and the database
/// opened (or created) and migrated.
pub async fn state_from_env() -> Result<Arc<AppState>, String> {
    let config = Config::from_env().map_err(|e| e.to_string())?;
    let key_file = PathBuf::from(
        std::env::var("PAYCODE_ISSUER_SECRET_FILE").unwrap_or_else(|_| "paycode-issuer.keys".into()),
    );
    let env_secret = std::env::var("PAYCODE_ISSUER_SECRET").ok();
    let keyring =
        keys::load_or_create(&key_file, env_secret.as_deref(), config.prefix).map_err(|e| e.to_string())?;
    AppState::new(config, keyring, Arc::new(SystemClock))
        .await
        .map_err(|e| e.to_string())
}

/// Runs the issuer configured by `PAYCODE_*` on `PAYCODE_LISTEN` (default `127.0.0.1:8080`)
/// until SIGTERM or SIGINT, then shuts down gracefully: what `paycode-server serve` and
/// `paycode serve` do.
pub async fn serve_from_env() -> Result<(), String> {
    // Checked before anything is created.
    Config::from_env().map_err(|e| e.to_string())?;
    let listen = std::env::var("PAYCODE_LISTEN").unwrap_or_else(|_| "127.0.0.1:8080".into());
    let state = state_from_env().await?;
    let listener = TcpListener::bind(&listen)
        .await
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    serve(listener, state, shutdown_signal())
        .await
        .map_err(|e| e.to_string())?;
    tracing::info!("issuer stopped");
    Ok(())
}
