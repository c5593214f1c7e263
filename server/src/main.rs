//! `paycode-server`: the issuer.
//!
//! ```text
//! paycode-server [serve]                 run the issuer (PAYCODE_LISTEN, default 127.0.0.1:8080)
//! paycode-server create-merchant NAME    create a merchant and print its API key once
//! ```
//! Configuration: `PAYCODE_*` variables (docs/API.md, "Configuration"). Nothing is created
//! before the arguments and the configuration are valid.

use clap::{Parser, Subcommand};

const ENVIRONMENT: &str = "\
Configuration (environment; docs/API.md, \"Configuration\"):
  PAYCODE_LISTEN               address to listen on [default: 127.0.0.1:8080]
  PAYCODE_DATABASE_URL         sqlite:PATH or postgres://… [default: sqlite:paycode.db]
  PAYCODE_ISSUER_SECRET_FILE   issuer secrets, created if missing [default: paycode-issuer.keys]
  PAYCODE_ISSUER_SECRET        64 hex digits, epoch 1; overrides the file
  PAYCODE_ADMIN_TOKEN          bearer token of the admin endpoints [default: unset, off]
  PAYCODE_HEADER_TIMEOUT_SECS  idle / request-head timeout of a connection [default: 30]
  PAYCODE_BODY_TIMEOUT_SECS    request-body timeout [default: 10]
  PAYCODE_MAX_CONNECTIONS      connections served at once [default: 1024, kept under the open-file limit]
  RUST_LOG                     log filter [default: info]
and the protocol and policy variables listed in docs/API.md.

SIGTERM or Ctrl-C stops accepting connections, lets requests in flight finish (at most 10 s)
and exits 0.";

#[derive(Parser)]
#[command(
    name = "paycode-server",
    version,
    about = "The paycode issuer: provisioning, sync, online codes and exactly-once payments over HTTP",
    after_help = ENVIRONMENT
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the issuer (the default).
    Serve,
    /// Create a merchant and print its id and API key once.
    CreateMerchant {
        /// The merchant's display name (1..=64 characters).
        name: String,
    },
}

fn fail(message: impl std::fmt::Display) -> ! {
    eprintln!("paycode-server: {message}");
    std::process::exit(2)
}

fn main() {
    // Parsed before anything else: --help, --version and a bad option touch nothing.
    let cli = Cli::parse();
    paycode_server::init_logging();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| fail(format!("cannot start the runtime: {e}")));
    runtime.block_on(async {
        match cli.command {
            None | Some(Command::Serve) => {
                paycode_server::serve_from_env().await.unwrap_or_else(|e| fail(e));
            }
            Some(Command::CreateMerchant { name }) => {
                let state = paycode_server::state_from_env().await.unwrap_or_else(|e| fail(e));
                let (id, key) = state
                    .create_merchant(&name)
                    .await
                    .unwrap_or_else(|e| fail(e.message));
                // Printed once to the operator's terminal, never logged.
                println!("merchant_id={id}\napi_key={key}");
            }
        }
    });
}
