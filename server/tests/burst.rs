//! The guess limits hold for a burst from the first request (issue 11, point 1), played as the
//! outside attacker did: fresh merchant keys, many keep-alive connections opened before the
//! first guess, random codes fired concurrently over real HTTP. The number of verifications
//! (answers other than 429) must not exceed the limits of docs/API.md "Brute force": 30 per key,
//! and for a set of keys the global limit plus one per key (the clean lane). SQLite and
//! PostgreSQL.

mod common;

use std::sync::Barrier;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use common::{Harness, engines, test_config};
use paycode_core::{PaymentCode, Prefix};
use paycode_server::ratelimit::RateLimits;
use serde_json::json;

const CONNECTIONS: usize = 48;

fn random_code(seed: &mut u64) -> String {
    // xorshift: the codes only need to be different, not secret.
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    let identity = *seed % 10_000_000_000;
    let otp = (*seed >> 40) as u32 % 1_000_000;
    PaymentCode::from_parts(Prefix::DEFAULT, identity, otp)
        .unwrap()
        .digits()
}

/// Fires `per_key` random codes for each key over `CONNECTIONS` keep-alive connections per key,
/// all released at once; returns (verified, refused) per key.
fn burst(h: &Harness, keys: &[String], per_key: usize) -> Vec<(u64, u64)> {
    let counts: Vec<(AtomicU64, AtomicU64)> = keys
        .iter()
        .map(|_| (AtomicU64::new(0), AtomicU64::new(0)))
        .collect();
    let barrier = Barrier::new(keys.len() * CONNECTIONS);
    std::thread::scope(|scope| {
        for (k, key) in keys.iter().enumerate() {
            for c in 0..CONNECTIONS {
                let (barrier, counts) = (&barrier, &counts);
                scope.spawn(move || {
                    // One agent per thread: its own keep-alive connection, opened before the
                    // burst by a request that is not a guess.
                    let agent: ureq::Agent = ureq::Agent::config_builder()
                        .http_status_as_error(false)
                        .timeout_global(Some(Duration::from_secs(60)))
                        .build()
                        .into();
                    let health = agent.get(format!("{}/v1/health", h.base)).call().unwrap();
                    assert_eq!(health.status().as_u16(), 200);
                    let mut seed = 0x9E37_79B9_7F4A_7C15 ^ ((k as u64) << 32 | c as u64);
                    barrier.wait();
                    for i in (c..per_key).step_by(CONNECTIONS) {
                        let body = json!({
                            "code": random_code(&mut seed),
                            "amount": 1,
                            "currency": "EUR",
                            "idempotency_key": format!("g{i}"),
                        });
                        let mut resp = agent
                            .post(format!("{}/v1/payments", h.base))
                            .header("authorization", format!("Bearer {key}"))
                            .header("content-type", "application/json")
                            .send(body.to_string().as_bytes())
                            .expect("HTTP round trip");
                        let status = resp.status().as_u16();
                        let text = resp.body_mut().read_to_string().unwrap_or_default();
                        match status {
                            200 => {
                                assert!(text.contains("\"declined\""), "{text}");
                                counts[k].0.fetch_add(1, Ordering::Relaxed);
                            }
                            429 => {
                                counts[k].1.fetch_add(1, Ordering::Relaxed);
                            }
                            other => panic!("unexpected {other}: {text}"),
                        }
                    }
                });
            }
        }
    });
    counts
        .iter()
        .map(|(v, r)| (v.load(Ordering::Relaxed), r.load(Ordering::Relaxed)))
        .collect()
}

fn limited(global: u32) -> paycode_server::Config {
    let mut config = test_config();
    config.limits = RateLimits {
        global_failures: global,
        // The production tarpit, shortened so the test takes seconds: the limits are the same.
        refusal_delay_ms: 20,
        ..RateLimits::default()
    };
    config
}

#[test]
fn one_fresh_key_gets_no_more_verified_guesses_than_its_limit_however_fast() {
    for engine in engines() {
        let h = Harness::with_config(engine, limited(1_000));
        let key = h.merchant("fresh attacker");
        let counts = burst(&h, std::slice::from_ref(&key), 600);
        let (verified, refused) = counts[0];
        println!("{engine:?}: {verified} verified, {refused} refused of 600");
        assert_eq!(verified + refused, 600);
        assert!(
            verified <= 30,
            "{engine:?}: {verified} guesses verified, limit 30 per key"
        );
        assert!(verified >= 1, "the first guesses are answered");
        // The key is locked out now: the next guess is refused at once.
        let (status, body) = h.pay(&key, "281234567890123456", 1, "after");
        assert_eq!(status, 429, "{body}");
    }
}

#[test]
fn several_fresh_keys_together_get_no_more_than_the_global_limit_plus_one_each() {
    for engine in engines() {
        // 6 keys × 30 = 180 would pass the per-key limits: the global limit (100) binds.
        let h = Harness::with_config(engine, limited(100));
        let keys: Vec<String> = (0..6).map(|i| h.merchant(&format!("attacker {i}"))).collect();
        let counts = burst(&h, &keys, 300);
        let verified: u64 = counts.iter().map(|c| c.0).sum();
        println!("{engine:?}: per key {counts:?}, {verified} verified in all");
        for (k, (v, r)) in counts.iter().enumerate() {
            assert_eq!(v + r, 300);
            assert!(*v <= 30, "{engine:?}: key {k} got {v} verified guesses");
        }
        assert!(
            verified <= 100 + 6,
            "{engine:?}: {verified} verified guesses for 6 keys, limit 100 + 6"
        );
        // A merchant that did not guess still pays (the clean lane) — shown by its answer
        // being a verification, not a 429.
        let honest = h.merchant("honest shop");
        let (status, body) = h.pay(&honest, "281234567890123456", 1, "h1");
        assert_eq!(status, 200, "{body}");
    }
}
