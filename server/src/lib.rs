//! # paycode-server
//!
//! The issuer: users log in, devices are provisioned with sealed offline credentials, sync,
//! fetch online codes, void, pause and log out; merchants submit codes and are paid exactly
//! once. HTTP with axum, storage with sqlx on SQLite (default) or PostgreSQL through one SQL
//! code path. The API is in `docs/API.md` and `docs/openapi.yaml`.
//!
//! Time comes from the [`paycode_core::Clock`] given to [`AppState::new`], so tests drive it.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod api;
pub mod app;
pub mod body;
pub mod config;
pub mod db;
pub mod devices;
pub mod error;
pub mod keys;
pub mod loadgen;
pub mod payments;
pub mod ratelimit;
pub mod seeds;
pub mod state;
pub mod storm;
pub mod users;
pub mod util;
pub mod verify;

pub use app::{init_logging, router, serve, serve_from_env, shutdown_signal, state_from_env};
pub use config::Config;
pub use state::{AppState, StartError};
