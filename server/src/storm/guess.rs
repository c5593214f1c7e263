//! The guess storm: random codes from many merchant API keys against an issuer with many
//! devices, while honest merchants pay at a steady rate.
//!
//! * The issuer runs in this process on its own runtime (2 workers), over a [`Fleet`] bulk
//!   inserted into SQLite or PostgreSQL, with the production brute-force limits unless told
//!   otherwise.
//! * The attacker holds `attacker_keys` merchant API keys (a botnet of compromised tills) and
//!   sends `guesses` codes as fast as `attacker_connections` keep-alive connections allow,
//!   rotating keys on every request: 90 % carry the issuer's prefix and 16 random digits (the
//!   best an attacker can do), 10 % are 18 random digits. It runs on its own thread.
//! * Honest merchants, on another thread, each pay `honest_rate` times a second with a fresh
//!   valid code of a device nobody else uses in that minute. They run alone for
//!   `baseline_secs` (the baseline), then on through the whole storm; latency is measured per
//!   request at the client.
//! * Counted: guesses sent, accepted (must be 0), refused `429 rate_limited`, declined by
//!   reason, the time until the first refusal and until no guess reached verification any
//!   more; honest p50/p99/max and throughput in both phases.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use paycode_core::{Clock, IssuerKeyring, IssuerSecret, Prefix, SystemClock, TimeParams};

use crate::config::Config;
use crate::loadgen::{Conn, Fleet, Rng, payment_json, percentile_ms};
use crate::ratelimit::RateLimits;
use crate::state::AppState;

/// What to run.
#[derive(Debug, Clone)]
pub struct GuessConfig {
    /// `sqlite:PATH` or a fresh PostgreSQL database.
    pub database_url: String,
    /// Devices in the issuer.
    pub devices: usize,
    /// Users owning them.
    pub users: usize,
    /// Random codes to send.
    pub guesses: u64,
    /// Merchant API keys the attacker holds.
    pub attacker_keys: usize,
    /// Concurrent attacker connections.
    pub attacker_connections: usize,
    /// Honest merchants.
    pub honest_merchants: usize,
    /// Payments per second of each honest merchant.
    pub honest_rate: f64,
    /// Honest traffic alone before the storm (s); the first second is warm-up, not measured.
    pub baseline_secs: f64,
    /// Honest traffic alone after the storm (s): a second baseline, to tell the storm's effect
    /// from the machine's drift.
    pub after_secs: f64,
    /// The issuer's brute-force limits.
    pub limits: RateLimits,
    /// Seed of the attacker's codes.
    pub seed: u64,
    /// Scheduling niceness of the attacker's thread (Linux, through `renice`): 19 models an
    /// attacker whose CPU is not the issuer's, as it would be on another machine; 0 lets it
    /// compete for the issuer's cores as an equal.
    pub attacker_nice: i32,
}

impl GuessConfig {
    /// The long form's defaults: 10^6 guesses from 100 keys on 2,000 connections against
    /// 100,000 devices; 8 honest merchants at 25 payments/s; 20 s of baseline; production
    /// limits (so refusals are delayed 250 ms: 2,000 connections make ≤ 8,000 guesses/s).
    pub fn new(database_url: String) -> Self {
        Self {
            database_url,
            devices: 100_000,
            users: 1_000,
            guesses: 1_000_000,
            attacker_keys: 100,
            attacker_connections: 2_000,
            honest_merchants: 8,
            honest_rate: 25.0,
            baseline_secs: 20.0,
            after_secs: 10.0,
            limits: RateLimits::default(),
            seed: Rng::os_seed(),
            attacker_nice: 0,
        }
    }
}

/// Honest traffic in one phase.
#[derive(Debug, Default, Clone)]
pub struct Phase {
    /// Payments started in the phase.
    pub payments: usize,
    /// Accepted among them.
    pub accepted: usize,
    /// Answered 429.
    pub refused: usize,
    /// Declined (any reason) or failed.
    pub other: usize,
    /// Length (s).
    pub secs: f64,
    /// Latency quantiles (ms).
    pub p50_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Largest.
    pub max_ms: f64,
    /// When the largest started, from the phase's start (s).
    pub max_at_secs: f64,
}

impl Phase {
    fn of(samples: &[(Instant, u64, Outcome)], from: Instant, to: Instant) -> Self {
        let inside: Vec<&(Instant, u64, Outcome)> =
            samples.iter().filter(|(t, _, _)| *t >= from && *t < to).collect();
        let mut latencies: Vec<u64> = inside.iter().map(|(_, l, _)| *l).collect();
        latencies.sort_unstable();
        let count = |o: Outcome| inside.iter().filter(|(_, _, x)| *x == o).count();
        Self {
            payments: inside.len(),
            accepted: count(Outcome::Accepted),
            refused: count(Outcome::Refused),
            other: count(Outcome::Other),
            secs: to.saturating_duration_since(from).as_secs_f64(),
            p50_ms: percentile_ms(&latencies, 0.50),
            p99_ms: percentile_ms(&latencies, 0.99),
            max_ms: percentile_ms(&latencies, 1.0),
            max_at_secs: inside
                .iter()
                .max_by_key(|(_, l, _)| *l)
                .map_or(0.0, |(t, _, _)| t.saturating_duration_since(from).as_secs_f64()),
        }
    }

    /// Payments per second.
    pub fn rate(&self) -> f64 {
        self.payments as f64 / self.secs.max(1e-9)
    }
}

/// What happened.
#[derive(Debug, Default, Clone)]
pub struct GuessReport {
    /// The seed.
    pub seed: u64,
    /// Devices in the issuer.
    pub devices: usize,
    /// Bulk insert time.
    pub provisioning: Duration,
    /// Guesses sent and answered.
    pub guesses: u64,
    /// Guesses accepted (must be 0).
    pub accepted: u64,
    /// Guesses refused with 429 before verification.
    pub refused: u64,
    /// Guesses verified and declined, by reason.
    pub declined: BTreeMap<String, u64>,
    /// Other answers, by HTTP status.
    pub other: BTreeMap<u16, u64>,
    /// Distinct attacker keys that got a 429.
    pub keys_refused: usize,
    /// From the storm's start to the first 429.
    pub first_refusal: Option<Duration>,
    /// From the storm's start to the last guess that reached verification.
    pub last_verified: Option<Duration>,
    /// Guesses verified in the storm's first second (the burst).
    pub verified_first_second: u64,
    /// Storm length.
    pub storm: Duration,
    /// Honest traffic alone.
    pub baseline: Phase,
    /// Honest traffic during the storm.
    pub during: Phase,
    /// Honest traffic alone after the storm.
    pub after: Phase,
    /// Rows in `rejections` at the end (each verified guess writes one).
    pub rejection_rows: i64,
    /// Accepted payments in the database.
    pub accepted_rows: i64,
    /// Broken expectations.
    pub violations: Vec<String>,
}

impl GuessReport {
    /// Honest p99 during the storm over its baseline before the storm.
    pub fn p99_ratio(&self) -> f64 {
        self.during.p99_ms / self.baseline.p99_ms.max(1e-9)
    }

    /// Honest p99 during the storm over the lower of the two baselines (before and after): the
    /// conservative figure on a machine whose load drifts.
    pub fn p99_ratio_conservative(&self) -> f64 {
        let after = if self.after.payments > 0 {
            self.after.p99_ms
        } else {
            f64::MAX
        };
        self.during.p99_ms / self.baseline.p99_ms.min(after).max(1e-9)
    }
}

impl fmt::Display for GuessReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let map = |m: &BTreeMap<String, u64>| {
            m.iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let ms = |d: Option<Duration>| d.map_or("never".into(), |d| format!("{} ms", d.as_millis()));
        writeln!(
            f,
            "seed {}, {} devices (bulk insert {:.1} s)",
            self.seed,
            self.devices,
            self.provisioning.as_secs_f64()
        )?;
        writeln!(
            f,
            "guesses {} in {:.1} s ({:.0}/s): accepted {}, refused 429 {}, declined {} ({}), other {:?}",
            self.guesses,
            self.storm.as_secs_f64(),
            self.guesses as f64 / self.storm.as_secs_f64().max(1e-9),
            self.accepted,
            self.refused,
            self.declined.values().sum::<u64>(),
            map(&self.declined),
            self.other
        )?;
        writeln!(
            f,
            "lockouts: first 429 after {}, {} attacker keys refused, {} guesses verified in the first second, last guess verified after {}; rejections rows {}",
            ms(self.first_refusal),
            self.keys_refused,
            self.verified_first_second,
            ms(self.last_verified),
            self.rejection_rows
        )?;
        writeln!(
            f,
            "| honest traffic | payments | accepted | refused | other | payments/s | p50 ms | p99 ms | max ms (at s) |"
        )?;
        writeln!(f, "|---|---|---|---|---|---|---|---|---|")?;
        for (name, p) in [
            ("baseline (before)", &self.baseline),
            ("during the storm", &self.during),
            ("after the storm", &self.after),
        ] {
            writeln!(
                f,
                "| {name} | {} | {} | {} | {} | {:.0} | {:.2} | {:.2} | {:.2} ({:.1}) |",
                p.payments,
                p.accepted,
                p.refused,
                p.other,
                p.rate(),
                p.p50_ms,
                p.p99_ms,
                p.max_ms,
                p.max_at_secs
            )?;
        }
        writeln!(
            f,
            "honest p99 during / before: {:.2}x; during / lower of before and after: {:.2}x",
            self.p99_ratio(),
            self.p99_ratio_conservative()
        )?;
        if self.violations.is_empty() {
            write!(
                f,
                "result: PASS (zero guesses accepted, lockouts engaged, no honest payment refused)"
            )
        } else {
            writeln!(f, "result: FAIL")?;
            for v in &self.violations {
                writeln!(f, "  {v}")?;
            }
            Ok(())
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Accepted,
    Refused,
    Other,
}

/// Attacker counters.
#[derive(Default)]
struct Tally {
    accepted: u64,
    refused: u64,
    declined: BTreeMap<String, u64>,
    other: BTreeMap<u16, u64>,
    keys_refused: HashSet<usize>,
    first_refusal: Option<Duration>,
    last_verified: Option<Duration>,
    verified_first_second: u64,
}

fn guess_code(rng: &mut Rng, prefix: u8) -> String {
    if rng.below(10) == 0 {
        format!("{}{:017}", rng.between(1, 9), rng.below(100_000_000_000_000_000))
    } else {
        format!("{prefix}{:016}", rng.below(10_000_000_000_000_000))
    }
}

async fn attacker_connection(
    addr: SocketAddr,
    keys: Arc<Vec<String>>,
    next: Arc<AtomicU64>,
    total: u64,
    mut rng: Rng,
    started: Instant,
    prefix: u8,
) -> Result<Tally, String> {
    let mut tally = Tally::default();
    let mut conn = Conn::connect(addr).await.map_err(|e| e.to_string())?;
    loop {
        let n = next.fetch_add(1, Ordering::Relaxed);
        if n >= total {
            return Ok(tally);
        }
        let key_index = (n % keys.len() as u64) as usize;
        let body = payment_json(&guess_code(&mut rng, prefix), 100, &format!("g{n}"));
        if conn.is_closed() {
            conn = Conn::connect(addr).await.map_err(|e| e.to_string())?;
        }
        let answer = conn
            .post("/v1/payments", Some(&keys[key_index]), &body)
            .await
            .map_err(|e| format!("attacker request {n}: {e}"))?;
        match answer.status {
            200 => {
                let json = answer.json();
                if json["status"] == "accepted" {
                    tally.accepted += 1;
                } else {
                    let reason = json["reason"].as_str().unwrap_or("?").to_owned();
                    *tally.declined.entry(reason).or_default() += 1;
                    let at = started.elapsed();
                    if at < Duration::from_secs(1) {
                        tally.verified_first_second += 1;
                    }
                    tally.last_verified = Some(at);
                }
            }
            429 => {
                tally.refused += 1;
                tally.keys_refused.insert(key_index);
                tally.first_refusal.get_or_insert_with(|| started.elapsed());
            }
            status => *tally.other.entry(status).or_default() += 1,
        }
    }
}

/// The attacker: `connections` tasks on one thread. Returns the tally and the storm's length.
fn attack(
    addr: SocketAddr,
    keys: Vec<String>,
    config: &GuessConfig,
    prefix: u8,
) -> std::thread::JoinHandle<Result<(Tally, Instant, Instant), String>> {
    let (connections, total, seed, nice) = (
        config.attacker_connections,
        config.guesses,
        config.seed,
        config.attacker_nice,
    );
    std::thread::spawn(move || {
        if nice != 0 {
            renice_this_thread(nice)?;
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        rt.block_on(async move {
            let keys = Arc::new(keys);
            let next = Arc::new(AtomicU64::new(0));
            let started = Instant::now();
            let tasks: Vec<_> = (0..connections)
                .map(|c| {
                    let rng = Rng::new(seed ^ (c as u64 + 1).wrapping_mul(0xD1B5_4A32_D192_ED03));
                    tokio::spawn(attacker_connection(
                        addr,
                        keys.clone(),
                        next.clone(),
                        total,
                        rng,
                        started,
                        prefix,
                    ))
                })
                .collect();
            let mut sum = Tally::default();
            for task in tasks {
                let t = task.await.map_err(|e| e.to_string())??;
                sum.accepted += t.accepted;
                sum.refused += t.refused;
                for (k, v) in t.declined {
                    *sum.declined.entry(k).or_default() += v;
                }
                for (k, v) in t.other {
                    *sum.other.entry(k).or_default() += v;
                }
                sum.keys_refused.extend(t.keys_refused);
                sum.first_refusal = match (sum.first_refusal, t.first_refusal) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                sum.last_verified = sum.last_verified.max(t.last_verified);
                sum.verified_first_second += t.verified_first_second;
            }
            Ok((sum, started, Instant::now()))
        })
    })
}

/// Sets this thread's niceness with `renice` (on Linux a thread id is a valid `-p` target).
fn renice_this_thread(nice: i32) -> Result<(), String> {
    let link = std::fs::read_link("/proc/thread-self").map_err(|e| format!("thread id: {e}"))?;
    let tid = link
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or("thread id: unreadable /proc/thread-self")?
        .to_owned();
    let status = std::process::Command::new("renice")
        .args(["-n", &nice.to_string(), "-p", &tid])
        .stdout(std::process::Stdio::null())
        .status()
        .map_err(|e| format!("renice: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("renice exited with {status}"))
    }
}

type Samples = Vec<(Instant, u64, Outcome)>;

/// Honest merchants on one thread until `stop`; each sample is (start, latency µs, outcome).
fn honest(
    addr: SocketAddr,
    keys: Vec<String>,
    fleet: Arc<Fleet>,
    rate: f64,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<Result<Samples, String>> {
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        rt.block_on(async move {
            let next = Arc::new(AtomicUsize::new(0));
            let samples = Arc::new(Mutex::new(Vec::new()));
            let tasks: Vec<_> = keys
                .into_iter()
                .enumerate()
                .map(|(m, key)| {
                    let (fleet, next, samples, stop) =
                        (fleet.clone(), next.clone(), samples.clone(), stop.clone());
                    tokio::spawn(async move {
                        let mut conn = Conn::connect(addr).await.map_err(|e| e.to_string())?;
                        let mut ticks = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
                        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                        let mut n = 0u64;
                        while !stop.load(Ordering::Relaxed) {
                            ticks.tick().await;
                            let index = next.fetch_add(1, Ordering::Relaxed);
                            // Each device once per wrap of the fleet; a wrap takes minutes, and
                            // the counter keeps later codes newer anyway.
                            let counter = ((index / fleet.devices) % 10) as u8;
                            let code = fleet
                                .credential(fleet.scatter(index))
                                .code_at(SystemClock.now_secs(), counter)
                                .map_err(|e| e.to_string())?;
                            n += 1;
                            let body = payment_json(&code.digits(), 125, &format!("h{m}-{n}"));
                            if conn.is_closed() {
                                conn = Conn::connect(addr).await.map_err(|e| e.to_string())?;
                            }
                            let t = Instant::now();
                            let answer = conn
                                .post("/v1/payments", Some(&key), &body)
                                .await
                                .map_err(|e| format!("honest request: {e}"))?;
                            let latency = t.elapsed().as_micros() as u64;
                            let outcome = match answer.status {
                                _ if answer.is_accepted() => Outcome::Accepted,
                                429 => Outcome::Refused,
                                _ => Outcome::Other,
                            };
                            samples
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .push((t, latency, outcome));
                        }
                        Ok::<(), String>(())
                    })
                })
                .collect();
            for task in tasks {
                task.await.map_err(|e| e.to_string())??;
            }
            let samples = std::mem::take(&mut *samples.lock().unwrap_or_else(|p| p.into_inner()));
            Ok(samples)
        })
    })
}

/// Runs the storm (blocking: it makes its own runtimes and threads).
pub fn run(config: &GuessConfig) -> Result<GuessReport, String> {
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let mut report = GuessReport {
        seed: config.seed,
        devices: config.devices,
        ..GuessReport::default()
    };
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).map_err(|e| e.to_string())?;
    let keyring = IssuerKeyring::new(Prefix::DEFAULT, 1, IssuerSecret::from_bytes(secret));
    let fleet = Arc::new(Fleet::new(
        &keyring,
        TimeParams::default(),
        config.devices,
        config.users,
        SystemClock.now_secs(),
    ));
    let issuer = Config {
        database_url: config.database_url.clone(),
        strong_password_hashing: false,
        limits: config.limits,
        ..Config::default()
    };
    let (state, addr, attacker_keys, honest_keys) = server_rt.block_on(async {
        let state = AppState::new(issuer, keyring, Arc::new(SystemClock))
            .await
            .map_err(|e| e.to_string())?;
        report.provisioning = fleet
            .insert(&state, |_| i64::MAX / 4)
            .await
            .map_err(|e| e.to_string())?;
        let mut keys = Vec::new();
        for m in 0..config.attacker_keys + config.honest_merchants {
            keys.push(
                state
                    .create_merchant(&format!("merchant {m}"))
                    .await
                    .map_err(|e| e.message)?
                    .1,
            );
        }
        let honest_keys = keys.split_off(config.attacker_keys);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| e.to_string())?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        tokio::spawn(crate::serve(listener, state.clone(), std::future::pending()));
        Ok::<_, String>((state, addr, keys, honest_keys))
    })?;

    let stop = Arc::new(AtomicBool::new(false));
    let honest_started = Instant::now();
    let honest = honest(addr, honest_keys, fleet, config.honest_rate, stop.clone());
    std::thread::sleep(Duration::from_secs_f64(config.baseline_secs));
    let attacker = attack(addr, attacker_keys, config, Prefix::DEFAULT.get());
    let attacked = attacker.join().map_err(|_| "the attacker panicked".to_owned())?;
    std::thread::sleep(Duration::from_secs_f64(config.after_secs));
    stop.store(true, Ordering::Relaxed);
    let samples = honest
        .join()
        .map_err(|_| "an honest merchant panicked".to_owned())??;
    let (tally, storm_start, storm_end) = attacked?;

    let warm =
        honest_started + Duration::from_secs(1).min(Duration::from_secs_f64(config.baseline_secs / 2.0));
    report.baseline = Phase::of(&samples, warm, storm_start);
    report.during = Phase::of(&samples, storm_start, storm_end);
    report.after = Phase::of(&samples, storm_end, Instant::now());
    report.storm = storm_end - storm_start;
    report.guesses = tally.accepted
        + tally.refused
        + tally.declined.values().sum::<u64>()
        + tally.other.values().sum::<u64>();
    report.accepted = tally.accepted;
    report.refused = tally.refused;
    report.declined = tally.declined;
    report.other = tally.other;
    report.keys_refused = tally.keys_refused.len();
    report.first_refusal = tally.first_refusal;
    report.verified_first_second = tally.verified_first_second;
    report.last_verified = tally.last_verified;
    let honest_accepted = samples.iter().filter(|s| s.2 == Outcome::Accepted).count() as i64;
    server_rt.block_on(async {
        report.rejection_rows = state.db.count("rejections").await.map_err(|e| e.to_string())?;
        report.accepted_rows = sqlx::query_scalar("SELECT COUNT(*) FROM payments WHERE status = 'accepted'")
            .fetch_one(&state.db.write)
            .await
            .map_err(|e| e.to_string())?;
        Ok::<(), String>(())
    })?;

    let v = &mut report.violations;
    if report.guesses != config.guesses {
        v.push(format!(
            "{} of {} guesses answered",
            report.guesses, config.guesses
        ));
    }
    if report.accepted > 0 {
        v.push(format!("{} guesses accepted", report.accepted));
    }
    if report.refused == 0 {
        v.push("the lockouts never engaged".into());
    }
    // The start-of-storm burst: every key starts clean, so the first second may verify at most
    // each key's budget, and no more than the global budget plus one clean-lane code per key.
    let keys = config.attacker_keys as u64;
    let burst_limit = (keys * u64::from(config.limits.merchant_failures))
        .min(u64::from(config.limits.global_failures) + keys);
    if report.verified_first_second > burst_limit {
        v.push(format!(
            "{} guesses verified in the storm's first second, limit {burst_limit}",
            report.verified_first_second
        ));
    }
    if report.accepted_rows != honest_accepted {
        v.push(format!(
            "{} accepted payments stored, honest merchants saw {honest_accepted}",
            report.accepted_rows
        ));
    }
    let verified: u64 = report.declined.values().sum();
    if report.rejection_rows as u64 != verified {
        v.push(format!(
            "{} rejection rows for {verified} verified guesses",
            report.rejection_rows
        ));
    }
    for (name, phase) in [
        ("baseline", &report.baseline),
        ("storm", &report.during),
        ("after", &report.after),
    ] {
        if phase.refused + phase.other > 0 || (phase.payments == 0 && phase.secs >= 1.0) {
            v.push(format!(
                "honest payments in the {name}: {} refused, {} not accepted, of {}",
                phase.refused, phase.other, phase.payments
            ));
        }
    }
    server_rt.shutdown_timeout(Duration::from_secs(1));
    Ok(report)
}
