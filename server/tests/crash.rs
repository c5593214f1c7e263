//! Crash storm, short form: the real `paycode-server` binary is killed with SIGKILL three times
//! at random moments during a payment storm and restarted on the same database; every client
//! record must match the ledger (no payment lost, none doubled, balances = debits) and every
//! unknown outcome must resolve to one answer. SQLite always, PostgreSQL when
//! `PAYCODE_TEST_POSTGRES_URL` is set. The long form is `scripts/crash-storm.sh`.

use std::path::PathBuf;

use paycode_server::loadgen::fresh_postgres_database;
use paycode_server::storm::crash::{CrashConfig, run};

fn storm(database_url: impl FnOnce(&std::path::Path) -> String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let config = CrashConfig::new(
        PathBuf::from(env!("CARGO_BIN_EXE_paycode-server")),
        database_url(dir.path()),
        dir.path().to_path_buf(),
    );
    let seed = config.seed;
    let report = rt.block_on(run(config)).expect("the storm runs");
    println!("{report}");
    assert!(report.violations.is_empty(), "seed {seed}:\n{report}");
    assert_eq!(report.kills, 3);
    assert!(report.accepted > 100, "the storm paid: {report}");
    assert!(
        report.declined.get("replayed").copied().unwrap_or(0) > 0,
        "double spends were tried: {report}"
    );
    assert!(
        report.unknowns > 0,
        "kills landed on requests in flight (seed {seed}): {report}"
    );
}

#[test]
fn sqlite_survives_kill_9_during_payments() {
    storm(|dir| format!("sqlite:{}", dir.join("issuer.db").display()));
}

#[test]
fn postgres_survives_kill_9_during_payments() {
    let Ok(url) = std::env::var("PAYCODE_TEST_POSTGRES_URL") else {
        println!("PAYCODE_TEST_POSTGRES_URL is not set: PostgreSQL not tested");
        return;
    };
    let fresh = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(fresh_postgres_database(&url))
        .expect("a fresh PostgreSQL database");
    storm(|_| fresh);
}
