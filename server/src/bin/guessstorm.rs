//! The guess storm (docs/STORMS.md): 10^6 random codes from 100 merchant keys against an
//! issuer with 100,000 devices while 8 honest merchants pay; reports zero accepted, the
//! lockouts, and the honest p50/p99 before and during the storm. Exits 1 on a violation.
//!
//! ```text
//! cargo run --release -p paycode-server --bin paycode-guessstorm -- [--engine sqlite|postgres]
//!     [--guesses 1000000] [--devices 100000] [--keys 100] [--connections 2000]
//!     [--honest 8] [--rate 25] [--baseline 20] [--after 10] [--nice 0] [--delay 250] [--seed N]
//! ```
//! `--delay` is the issuer's refusal delay (tarpit, ms; `PAYCODE_REFUSAL_DELAY_MS`); 0 turns it
//! off. The attacker needs two file descriptors per connection in this process (its socket and
//! the issuer's): `scripts/guess-storm.sh` raises the soft limit.
//! The issuer logs at `info` to a file in the temp dir, as the real binary would to its stdout.
//! PostgreSQL: `PAYCODE_TEST_POSTGRES_URL` names a server where it may create a database.

use paycode_server::loadgen::{Rng, flag, flags, fresh_postgres_database};
use paycode_server::storm::guess::{GuessConfig, run};

fn fail(message: impl std::fmt::Display) -> ! {
    eprintln!("paycode-guessstorm: {message}");
    std::process::exit(2)
}

fn main() {
    let flags = flags(&[
        "engine",
        "guesses",
        "devices",
        "keys",
        "connections",
        "honest",
        "rate",
        "baseline",
        "after",
        "nice",
        "delay",
        "seed",
    ])
    .unwrap_or_else(|e| fail(e));
    let get = |name: &str, default: u64| flag(&flags, name, default).unwrap_or_else(|e| fail(e));
    let engine: String = flag(&flags, "engine", "sqlite".to_owned()).unwrap_or_else(|e| fail(e));
    let dir = std::env::temp_dir().join(format!("paycode-guessstorm-{}", Rng::os_seed() >> 16));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| fail(e));
    let database_url = match engine.as_str() {
        "sqlite" => format!("sqlite:{}", dir.join("issuer.db").display()),
        "postgres" => {
            let url = std::env::var("PAYCODE_TEST_POSTGRES_URL").unwrap_or_else(|_| {
                fail("set PAYCODE_TEST_POSTGRES_URL (scripts/postgres-for-tests.sh start)")
            });
            tokio::runtime::Runtime::new()
                .unwrap_or_else(|e| fail(e))
                .block_on(fresh_postgres_database(&url))
                .unwrap_or_else(|e| fail(e))
        }
        other => fail(format!("unknown engine {other}")),
    };
    let log = std::fs::File::create(dir.join("issuer.log")).unwrap_or_else(|e| fail(e));
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_ansi(false)
        .with_writer(std::sync::Mutex::new(log))
        .init();
    let mut config = GuessConfig::new(database_url);
    config.guesses = get("guesses", config.guesses);
    config.devices = get("devices", config.devices as u64) as usize;
    config.attacker_keys = get("keys", config.attacker_keys as u64) as usize;
    config.attacker_connections = get("connections", config.attacker_connections as u64) as usize;
    config.honest_merchants = get("honest", config.honest_merchants as u64) as usize;
    config.honest_rate = flag(&flags, "rate", config.honest_rate).unwrap_or_else(|e| fail(e));
    config.baseline_secs = flag(&flags, "baseline", config.baseline_secs).unwrap_or_else(|e| fail(e));
    config.after_secs = flag(&flags, "after", config.after_secs).unwrap_or_else(|e| fail(e));
    config.attacker_nice = flag(&flags, "nice", config.attacker_nice).unwrap_or_else(|e| fail(e));
    config.limits.refusal_delay_ms = get("delay", config.limits.refusal_delay_ms);
    config.seed = get("seed", config.seed);
    println!(
        "guess storm: engine {engine}, {} devices, {} guesses from {} keys on {} connections, \
         {} honest merchants at {}/s, {} s baseline, attacker nice {}, limits {:?}, seed {}",
        config.devices,
        config.guesses,
        config.attacker_keys,
        config.attacker_connections,
        config.honest_merchants,
        config.honest_rate,
        config.baseline_secs,
        config.attacker_nice,
        config.limits,
        config.seed
    );
    let report = run(&config).unwrap_or_else(|e| fail(e));
    println!("{report}");
    let log_bytes = std::fs::metadata(dir.join("issuer.log")).map_or(0, |m| m.len());
    println!("issuer log: {log_bytes} bytes");
    let _ = std::fs::remove_dir_all(&dir);
    if !report.violations.is_empty() {
        std::process::exit(1);
    }
}
