//! The crash storm (docs/STORMS.md): kills the real `paycode-server` with SIGKILL at random
//! moments during a payment storm, restarts it on the same database, and checks the clients'
//! records against the ledger. Exits 1 if anything was lost, doubled or unbalanced.
//!
//! ```text
//! cargo build --release -p paycode-server --bins
//! target/release/paycode-crashstorm [--kills 50] [--engine sqlite|postgres] [--seed N]
//!     [--clients 6] [--devices 1000 (per client)] [--server target/release/paycode-server]
//! ```
//! PostgreSQL: `PAYCODE_TEST_POSTGRES_URL` names a server where it may create a database.

use std::path::PathBuf;

use paycode_server::loadgen::{Rng, flag, flags, fresh_postgres_database};
use paycode_server::storm::crash::{CrashConfig, run};

fn fail(message: impl std::fmt::Display) -> ! {
    eprintln!("paycode-crashstorm: {message}");
    std::process::exit(2)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let flags =
        flags(&["kills", "engine", "seed", "clients", "devices", "server"]).unwrap_or_else(|e| fail(e));
    let sibling = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join("paycode-server")))
        .unwrap_or_default();
    let server: PathBuf = flag(&flags, "server", sibling).unwrap_or_else(|e| fail(e));
    let engine: String = flag(&flags, "engine", "sqlite".to_owned()).unwrap_or_else(|e| fail(e));
    let dir = tempfile_dir();
    let database_url = match engine.as_str() {
        "sqlite" => format!("sqlite:{}", dir.join("issuer.db").display()),
        "postgres" => {
            let url = std::env::var("PAYCODE_TEST_POSTGRES_URL").unwrap_or_else(|_| {
                fail("set PAYCODE_TEST_POSTGRES_URL (scripts/postgres-for-tests.sh start)")
            });
            fresh_postgres_database(&url).await.unwrap_or_else(|e| fail(e))
        }
        other => fail(format!("unknown engine {other}")),
    };
    let mut config = CrashConfig::new(server, database_url, dir.clone());
    config.kills = flag(&flags, "kills", 50).unwrap_or_else(|e| fail(e));
    config.seed = flag(&flags, "seed", Rng::os_seed()).unwrap_or_else(|e| fail(e));
    config.clients = flag(&flags, "clients", config.clients).unwrap_or_else(|e| fail(e));
    // Each device makes ten codes a minute: enough devices that the clients never wait.
    config.devices_per_client = flag(&flags, "devices", 1_000).unwrap_or_else(|e| fail(e));
    println!(
        "crash storm: engine {engine}, {} kills, {} clients with {} devices each, seed {} (repeat with --seed {})",
        config.kills, config.clients, config.devices_per_client, config.seed, config.seed
    );
    let report = run(config).await.unwrap_or_else(|e| fail(e));
    println!("{report}");
    if report.violations.is_empty() {
        let _ = std::fs::remove_dir_all(&dir);
    } else {
        println!("issuer log and database kept in {}", dir.display());
        std::process::exit(1);
    }
}

/// A fresh directory for the database and the issuer's log.
fn tempfile_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("paycode-crashstorm-{}", Rng::os_seed() >> 16));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| fail(format!("{}: {e}", dir.display())));
    dir
}
