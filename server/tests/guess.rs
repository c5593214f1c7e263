//! Guess storm, short form: 20,000 random codes from 20 merchant keys against 2,000 devices,
//! in process, with the production brute-force limits, while honest merchants pay. Zero
//! guesses accepted, the lockouts engage, no honest payment refused. The long form (10^6
//! guesses, 100,000 devices, latency figures) is `scripts/guess-storm.sh`.

use paycode_server::storm::guess::{GuessConfig, run};

#[test]
fn random_codes_are_all_refused_and_honest_merchants_keep_paying() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = GuessConfig::new(format!("sqlite:{}", dir.path().join("issuer.db").display()));
    config.devices = 2_000;
    config.users = 100;
    config.guesses = 20_000;
    config.attacker_keys = 20;
    // The production tarpit (250 ms) would make 20,000 guesses take minutes on a few
    // connections; a short delay on more connections keeps the refusal path the same.
    config.attacker_connections = 50;
    config.limits.refusal_delay_ms = 5;
    config.honest_merchants = 4;
    config.honest_rate = 20.0;
    config.baseline_secs = 1.5;
    config.after_secs = 0.5;
    let report = run(&config).expect("the storm runs");
    println!("{report}");
    assert!(report.violations.is_empty(), "{report}");
    assert_eq!(report.guesses, 20_000);
    assert_eq!(report.accepted, 0);
    // Production limits, counted when a guess is admitted: each key gets at most 30 verified
    // guesses and is then locked for 5 minutes (longer than this storm), so 20 keys get at
    // most 600 — from the first second, however many connections.
    let verified: u64 = report.declined.values().sum();
    assert!(verified <= 20 * 30, "{report}");
    assert!(report.verified_first_second <= 20 * 30, "{report}");
    assert!(report.refused >= 20_000 - 600, "{report}");
    assert!(report.first_refusal.is_some());
    assert!(report.during.accepted > 0, "{report}");
}
