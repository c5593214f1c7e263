//! `paycode-server`: the issuer.
//!
//! ```text
//! paycode-server [serve]                 run the issuer (PAYCODE_LISTEN, default 127.0.0.1:8080)
//! paycode-server create-merchant NAME    create a merchant and print its API key once
//! ```
//! Configuration: `PAYCODE_*` variables (docs/API.md, "Configuration").

use std::path::PathBuf;
use std::sync::Arc;

use paycode_core::SystemClock;
use paycode_server::{AppState, Config, keys};

fn fail(message: impl std::fmt::Display) -> ! {
    eprintln!("paycode-server: {message}");
    std::process::exit(2)
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let config = Config::from_env().unwrap_or_else(|e| fail(e));
    let key_file = PathBuf::from(
        std::env::var("PAYCODE_ISSUER_SECRET_FILE").unwrap_or_else(|_| "paycode-issuer.keys".into()),
    );
    let env_secret = std::env::var("PAYCODE_ISSUER_SECRET").ok();
    let keyring =
        keys::load_or_create(&key_file, env_secret.as_deref(), config.prefix).unwrap_or_else(|e| fail(e));
    let state = AppState::new(config, keyring, Arc::new(SystemClock))
        .await
        .unwrap_or_else(|e| fail(e));
    match args.first().map(String::as_str) {
        None | Some("serve") => {
            let listen = std::env::var("PAYCODE_LISTEN").unwrap_or_else(|_| "127.0.0.1:8080".into());
            let listener = tokio::net::TcpListener::bind(&listen)
                .await
                .unwrap_or_else(|e| fail(format!("cannot listen on {listen}: {e}")));
            let shutdown = async {
                let _ = tokio::signal::ctrl_c().await;
            };
            paycode_server::serve(listener, state, shutdown)
                .await
                .unwrap_or_else(|e| fail(e));
        }
        Some("create-merchant") => {
            let name = args
                .get(1)
                .unwrap_or_else(|| fail("usage: paycode-server create-merchant NAME"));
            let (id, key) = state
                .create_merchant(name)
                .await
                .unwrap_or_else(|e| fail(e.message));
            // Printed once to the operator's terminal, never logged.
            println!("merchant_id={id}\napi_key={key}");
        }
        Some(other) => fail(format!(
            "unknown command {other:?}: use serve or create-merchant NAME"
        )),
    }
}
