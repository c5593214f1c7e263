//! The crash storm: `kill -9` the real issuer binary at random moments during a payment storm,
//! restart it on the same database, and check the clients' own records against the ledger.
//!
//! * Setup, in this process: migrations, a [`Fleet`] of users and devices (a quarter of the
//!   users start poor, so `insufficient_funds` happens), one merchant per client.
//! * The issuer is the `paycode-server` binary, configured through `PAYCODE_*` variables, on a
//!   fixed loopback port; its stdout and stderr go to a log file.
//! * Each client is one merchant on a keep-alive connection. It owns a set of users and their
//!   devices, so it can predict every answer: a fresh valid code is accepted if its own ledger
//!   says the user can pay, otherwise declined `insufficient_funds`; after an acceptance it
//!   sometimes sends the same code again under a new key, which must be declined `replayed`.
//!   When the connection dies after the request was written, the outcome is *unknown*: the
//!   client retries the same request (same idempotency key, same code) until it gets an answer.
//! * A controller kills the issuer with SIGKILL after a random uptime, waits a random downtime,
//!   restarts it and waits until it answers `/v1/health`; random delays come from a seeded
//!   generator whose seed is printed.
//! * At the end: every record is checked against the `payments`, `ledger`, `users` and
//!   `devices` tables and a sample against `GET /v1/payments/{id}`, and the issuer's log is
//!   searched for secrets.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use paycode_core::{Clock, IssuerKeyring, IssuerSecret, Prefix, SystemClock, TimeParams};

use crate::config::Config;
use crate::db::Db;
use crate::loadgen::{Answer, Conn, Fleet, Rng, payment_json};
use crate::state::AppState;
use crate::storm::{Leaks, find_leaks};
use crate::util::hex;

/// Balance of a rich user (never runs out).
const RICH: i64 = 1_000_000_000_000;
/// Balance of a poor user: a few dozen payments.
const POOR: i64 = 5_000;
/// Payments are 1..=MAX_AMOUNT cents.
const MAX_AMOUNT: u64 = 500;
/// A client gives up on a record after this long without an answer (a violation).
const SETTLE_TIMEOUT: Duration = Duration::from_secs(60);

/// What to run.
#[derive(Debug, Clone)]
pub struct CrashConfig {
    /// The `paycode-server` binary.
    pub server_bin: PathBuf,
    /// `sqlite:PATH` or a fresh PostgreSQL database.
    pub database_url: String,
    /// Where the issuer's log goes.
    pub work_dir: PathBuf,
    /// How many times the issuer is killed.
    pub kills: u32,
    /// Concurrent merchant clients.
    pub clients: usize,
    /// Devices per client.
    pub devices_per_client: usize,
    /// Users per client.
    pub users_per_client: usize,
    /// Seed of every random choice (kill delays, amounts, replays).
    pub seed: u64,
    /// Issuer uptime before each kill, ms (uniform in the range).
    pub uptime_ms: (u64, u64),
    /// Pause between the kill and the restart, ms.
    pub downtime_ms: (u64, u64),
    /// Payments continue this long after the last restart, ms.
    pub tail_ms: u64,
}

impl CrashConfig {
    /// Defaults: 3 kills, 6 clients of 4 users and 120 devices each, 0.2–1.5 s uptimes.
    pub fn new(server_bin: PathBuf, database_url: String, work_dir: PathBuf) -> Self {
        Self {
            server_bin,
            database_url,
            work_dir,
            kills: 3,
            clients: 6,
            devices_per_client: 120,
            users_per_client: 4,
            seed: Rng::os_seed(),
            uptime_ms: (200, 1_500),
            downtime_ms: (0, 300),
            tail_ms: 500,
        }
    }
}

/// What happened, and what was wrong.
#[derive(Debug, Default, Clone)]
pub struct CrashReport {
    /// The seed.
    pub seed: u64,
    /// Kills done.
    pub kills: u32,
    /// Payment requests decided (records).
    pub payments: usize,
    /// Accepted among them.
    pub accepted: usize,
    /// Declined, by reason.
    pub declined: BTreeMap<String, usize>,
    /// Records whose first attempt died with the connection.
    pub unknowns: usize,
    /// Of those, answered on retry from the idempotency key: committed before the kill.
    pub unknowns_committed: usize,
    /// Of those, decided on retry: nothing was committed before the kill.
    pub unknowns_decided_on_retry: usize,
    /// Attempts after the first, over all records.
    pub retries: u64,
    /// `503 unavailable` answers (retried).
    pub unavailable: u64,
    /// Sum of accepted amounts (= ledger total).
    pub debited: i64,
    /// Longest restart, from spawn to healthy.
    pub max_restart: Duration,
    /// Whole run.
    pub elapsed: Duration,
    /// Size of the issuer's log.
    pub log_bytes: usize,
    /// Every broken expectation; empty when the run passed.
    pub violations: Vec<String>,
}

impl fmt::Display for CrashReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let declined: Vec<String> = self.declined.iter().map(|(r, n)| format!("{r} {n}")).collect();
        writeln!(f, "seed {}", self.seed)?;
        writeln!(
            f,
            "kills {}, payments {} (accepted {}, declined: {}), debited {}",
            self.kills,
            self.payments,
            self.accepted,
            declined.join(", "),
            self.debited
        )?;
        writeln!(
            f,
            "unknown after a kill {} (committed before the kill {}, decided on retry {}), retries {}, 503s {}",
            self.unknowns,
            self.unknowns_committed,
            self.unknowns_decided_on_retry,
            self.retries,
            self.unavailable
        )?;
        writeln!(
            f,
            "longest restart {} ms, run {:.1} s, issuer log {} bytes",
            self.max_restart.as_millis(),
            self.elapsed.as_secs_f64(),
            self.log_bytes
        )?;
        if self.violations.is_empty() {
            write!(
                f,
                "result: PASS (no payment lost, none doubled, ledger balanced, log clean)"
            )
        } else {
            writeln!(f, "result: FAIL, {} violations:", self.violations.len())?;
            for v in self.violations.iter().take(50) {
                writeln!(f, "  {v}")?;
            }
            Ok(())
        }
    }
}

/// The issuer as a child process.
struct Server {
    bin: PathBuf,
    env: Vec<(&'static str, String)>,
    log: PathBuf,
    addr: SocketAddr,
    child: Option<Child>,
}

impl Server {
    fn spawn(&mut self) -> Result<(), String> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(|e| format!("issuer log {}: {e}", self.log.display()))?;
        let err = log.try_clone().map_err(|e| e.to_string())?;
        let child = Command::new(&self.bin)
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", self.bin.display()))?;
        self.child = Some(child);
        Ok(())
    }

    /// Spawns the issuer and waits until `/v1/health` answers.
    async fn start(&mut self) -> Result<Duration, String> {
        let started = Instant::now();
        self.spawn()?;
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                return Err(format!("the issuer exited at start: {status}"));
            }
            if let Ok(mut conn) = Conn::connect(self.addr).await
                && let Ok(answer) = conn.get("/v1/health", None).await
                && answer.status == 200
            {
                return Ok(started.elapsed());
            }
            if started.elapsed() > Duration::from_secs(30) {
                return Err("the issuer did not become healthy within 30 s".into());
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// SIGKILL, then reap.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One payment request as its client saw it.
#[derive(Debug, Clone)]
struct Record {
    key: String,
    code: String,
    device: usize,
    amount: i64,
    expected: &'static str,
    status: String,
    reason: String,
    payment_id: String,
    unknown: bool,
    replayed_answer: bool,
    attempts: u32,
}

/// What a client ends with.
#[derive(Default)]
struct ClientLog {
    records: Vec<Record>,
    /// user → balance the client believes.
    balances: HashMap<usize, i64>,
    /// device → mark of its newest accepted code.
    redeemed: HashMap<usize, i64>,
    unavailable: u64,
    violations: Vec<String>,
}

struct Shared {
    addr: SocketAddr,
    fleet: Fleet,
    clients: usize,
    stop: AtomicBool,
}

fn initial_balance(user: usize) -> i64 {
    if user.is_multiple_of(4) { POOR } else { RICH }
}

/// Sends `body` until the issuer answers something other than 503; `unknown` is set when a
/// connection died after the request was written.
async fn settle(
    shared: &Shared,
    conn: &mut Option<Conn>,
    api_key: &str,
    body: &str,
    record: &mut Record,
    log: &mut ClientLog,
) -> Option<Answer> {
    let started = Instant::now();
    while started.elapsed() < SETTLE_TIMEOUT {
        let Some(c) = conn.as_mut() else {
            match Conn::connect(shared.addr).await {
                Ok(c) => *conn = Some(c),
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            }
            continue;
        };
        record.attempts += 1;
        match tokio::time::timeout(
            Duration::from_secs(10),
            c.post("/v1/payments", Some(api_key), body),
        )
        .await
        {
            Ok(Ok(answer)) if answer.status == 503 => {
                log.unavailable += 1;
                record.unknown = true;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            Ok(Ok(answer)) => {
                if c.is_closed() {
                    *conn = None;
                }
                return Some(answer);
            }
            _ => {
                *conn = None;
                record.unknown = true;
            }
        }
    }
    None
}

/// One payment request, settled; compared with `expected` (`accepted` or a decline reason).
/// `None` if no answer came in time (recorded as a violation).
#[allow(clippy::too_many_arguments)]
async fn pay(
    shared: &Shared,
    conn: &mut Option<Conn>,
    api_key: &str,
    log: &mut ClientLog,
    index: usize,
    sequence: &mut u64,
    (device, code, amount): (usize, &str, i64),
    expected: &'static str,
) -> Option<Record> {
    *sequence += 1;
    let mut record = Record {
        key: format!("c{index}-{sequence}"),
        code: code.to_owned(),
        device,
        amount,
        expected,
        status: String::new(),
        reason: String::new(),
        payment_id: String::new(),
        unknown: false,
        replayed_answer: false,
        attempts: 0,
    };
    let body = payment_json(code, amount, &record.key);
    let Some(answer) = settle(shared, conn, api_key, &body, &mut record, log).await else {
        log.violations
            .push(format!("{}: no answer within {SETTLE_TIMEOUT:?}", record.key));
        return None;
    };
    let json = answer.json();
    if answer.status != 200 {
        log.violations
            .push(format!("{}: HTTP {} {json}", record.key, answer.status));
        record.status = "error".into();
        return Some(record);
    }
    record.status = json["status"].as_str().unwrap_or("").to_owned();
    record.reason = json["reason"].as_str().unwrap_or("").to_owned();
    record.payment_id = json["payment_id"].as_str().unwrap_or("").to_owned();
    record.replayed_answer = answer.replayed;
    let got = if record.status == "accepted" {
        "accepted"
    } else {
        record.reason.as_str()
    };
    if got != record.expected {
        log.violations.push(format!(
            "{}: expected {}, got {json} (attempts {}, unknown {})",
            record.key, record.expected, record.attempts, record.unknown
        ));
    }
    Some(record)
}

async fn client(shared: Arc<Shared>, index: usize, api_key: String, mut rng: Rng) -> ClientLog {
    let fleet = &shared.fleet;
    let devices: Vec<usize> = (0..fleet.devices)
        .filter(|d| d % shared.clients == index)
        .collect();
    let mut log = ClientLog {
        balances: (0..fleet.users)
            .filter(|u| u % shared.clients == index)
            .map(|u| (u, initial_balance(u)))
            .collect(),
        ..ClientLog::default()
    };
    let time = TimeParams::default();
    // device → (step, counter) of the newest code made.
    let mut made: HashMap<usize, (u64, u8)> = HashMap::new();
    let mut conn: Option<Conn> = None;
    let mut next = 0usize;
    let mut sequence = 0u64;
    while !shared.stop.load(Ordering::Relaxed) {
        let step = time.step_at(SystemClock.now_secs()).unwrap_or(0);
        let device = devices[next % devices.len()];
        next += 1;
        let counter = match made.get(&device) {
            Some((s, c)) if *s == step => c + 1,
            _ => 0,
        };
        if counter >= 10 {
            // Every device made ten codes this minute: wait for the next step.
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        }
        made.insert(device, (step, counter));
        let code = fleet.code(device, step, counter).digits();
        let mark = step as i64 * 10 + i64::from(counter);
        let amount = rng.between(1, MAX_AMOUNT) as i64;
        let user = fleet.user_of(device);
        let expected = if log.balances[&user] >= amount {
            "accepted"
        } else {
            "insufficient_funds"
        };
        let Some(record) = pay(
            &shared,
            &mut conn,
            &api_key,
            &mut log,
            index,
            &mut sequence,
            (device, &code, amount),
            expected,
        )
        .await
        else {
            return log;
        };
        if record.status == "accepted" {
            *log.balances.get_mut(&user).expect("the client's own user") -= amount;
            log.redeemed.insert(device, mark);
            log.records.push(record);
            // Sometimes the same code again under a new key: a double spend attempt.
            if rng.below(8) == 0 {
                let Some(replay) = pay(
                    &shared,
                    &mut conn,
                    &api_key,
                    &mut log,
                    index,
                    &mut sequence,
                    (device, &code, amount),
                    "replayed",
                )
                .await
                else {
                    return log;
                };
                log.records.push(replay);
            }
        } else {
            log.records.push(record);
        }
    }
    log
}

/// Runs the storm and checks everything; `Err` only when it could not run at all.
pub async fn run(config: CrashConfig) -> Result<CrashReport, String> {
    let started = Instant::now();
    let mut report = CrashReport {
        seed: config.seed,
        ..CrashReport::default()
    };
    let mut rng = Rng::new(config.seed);
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).map_err(|e| e.to_string())?;
    let secret_hex = hex(&secret);
    let keyring = IssuerKeyring::new(Prefix::DEFAULT, 1, IssuerSecret::from_bytes(secret));
    let time = TimeParams::default();
    let fleet = Fleet::new(
        &keyring,
        time,
        config.clients * config.devices_per_client,
        config.clients * config.users_per_client,
        SystemClock.now_secs(),
    );

    // Setup in this process, then close the database before the issuer opens it.
    let setup = Config {
        database_url: config.database_url.clone(),
        strong_password_hashing: false,
        ..Config::default()
    };
    let state = AppState::new(setup, keyring, Arc::new(SystemClock))
        .await
        .map_err(|e| e.to_string())?;
    fleet
        .insert(&state, initial_balance)
        .await
        .map_err(|e| e.to_string())?;
    let mut merchants = Vec::new();
    for c in 0..config.clients {
        merchants.push(
            state
                .create_merchant(&format!("till {c}"))
                .await
                .map_err(|e| e.message)?,
        );
    }
    state.db.write.close().await;
    state.db.read.close().await;
    drop(state);

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| e.to_string())?
        .port();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let lots = u32::MAX.to_string();
    let log_path = config.work_dir.join("issuer.log");
    let mut server = Server {
        bin: config.server_bin.clone(),
        env: vec![
            ("PAYCODE_LISTEN", addr.to_string()),
            ("PAYCODE_DATABASE_URL", config.database_url.clone()),
            ("PAYCODE_ISSUER_SECRET", secret_hex.clone()),
            // Retries that land outside a code's window would count as guesses.
            ("PAYCODE_MERCHANT_FAILURES_PER_MIN", lots.clone()),
            ("PAYCODE_MERCHANT_SLOT_FAILURES_PER_MIN", lots.clone()),
            ("PAYCODE_SLOT_FAILURES_PER_MIN", lots.clone()),
            ("PAYCODE_GLOBAL_FAILURES_PER_MIN", lots),
            ("RUST_LOG", "info".into()),
            ("NO_COLOR", "1".into()),
        ],
        log: log_path.clone(),
        addr,
        child: None,
    };
    server.start().await?;

    let shared = Arc::new(Shared {
        addr,
        fleet,
        clients: config.clients,
        stop: AtomicBool::new(false),
    });
    let tasks: Vec<_> = merchants
        .iter()
        .enumerate()
        .map(|(c, (_, key))| {
            let client_rng = Rng::new(config.seed ^ (c as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            tokio::spawn(client(shared.clone(), c, key.clone(), client_rng))
        })
        .collect();

    let mut failure = None;
    for _ in 0..config.kills {
        tokio::time::sleep(Duration::from_millis(
            rng.between(config.uptime_ms.0, config.uptime_ms.1),
        ))
        .await;
        server.kill();
        report.kills += 1;
        tokio::time::sleep(Duration::from_millis(
            rng.between(config.downtime_ms.0, config.downtime_ms.1),
        ))
        .await;
        match server.start().await {
            Ok(took) => report.max_restart = report.max_restart.max(took),
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    if failure.is_none() {
        tokio::time::sleep(Duration::from_millis(config.tail_ms)).await;
    }
    shared.stop.store(true, Ordering::Relaxed);
    let mut logs = Vec::new();
    for task in tasks {
        logs.push(task.await.map_err(|e| format!("a client panicked: {e}"))?);
    }
    if let Some(e) = failure {
        report.violations.push(format!("restart failed: {e}"));
    }

    // A sample read back through the API, while the issuer still runs.
    let mut conn = Conn::connect(addr).await.map_err(|e| e.to_string())?;
    for (c, log) in logs.iter().enumerate() {
        for record in log.records.iter().filter(|r| r.status == "accepted").take(100) {
            let answer = conn
                .get(
                    &format!("/v1/payments/{}", record.payment_id),
                    Some(&merchants[c].1),
                )
                .await
                .map_err(|e| e.to_string())?;
            let json = answer.json();
            if answer.status != 200 || json["status"] != "accepted" || json["amount"] != record.amount {
                report.violations.push(format!(
                    "GET {}: HTTP {} {json}",
                    record.payment_id, answer.status
                ));
            }
        }
    }
    server.kill();

    let db = Db::connect(&config.database_url)
        .await
        .map_err(|e| e.to_string())?;
    check_database(&db, &shared.fleet, &merchants, &logs, &mut report)
        .await
        .map_err(|e| e.to_string())?;
    db.write.close().await;
    db.read.close().await;

    // The issuer's log: nothing secret, no full code, no panic.
    let text = std::fs::read_to_string(&log_path).map_err(|e| e.to_string())?;
    report.log_bytes = text.len();
    let mut secrets = vec![secret_hex.clone(), crate::storm::b64(&secret)];
    secrets.extend(merchants.iter().map(|(_, key)| key.clone()));
    let codes: HashSet<String> = logs
        .iter()
        .flat_map(|l| l.records.iter().map(|r| r.code.clone()))
        .collect();
    let Leaks {
        secrets: leaked,
        codes: leaked_codes,
    } = find_leaks(&text, &secrets, &codes);
    for s in leaked {
        report
            .violations
            .push(format!("the issuer log contains a secret ({}…)", &s[..6]));
    }
    if leaked_codes > 0 {
        report.violations.push(format!(
            "the issuer log contains {leaked_codes} full payment codes"
        ));
    }
    if text.contains("panicked") {
        report.violations.push("the issuer panicked (see its log)".into());
    }

    for log in &logs {
        report.unavailable += log.unavailable;
        report.violations.extend(log.violations.iter().cloned());
        for r in &log.records {
            report.payments += 1;
            report.retries += u64::from(r.attempts.saturating_sub(1));
            if r.status == "accepted" {
                report.accepted += 1;
                report.debited += r.amount;
            } else {
                *report.declined.entry(r.reason.clone()).or_default() += 1;
            }
            if r.unknown {
                report.unknowns += 1;
                if r.replayed_answer {
                    report.unknowns_committed += 1;
                } else {
                    report.unknowns_decided_on_retry += 1;
                }
            }
        }
    }
    report.elapsed = started.elapsed();
    Ok(report)
}

/// Every record against the tables.
async fn check_database(
    db: &Db,
    fleet: &Fleet,
    merchants: &[(String, String)],
    logs: &[ClientLog],
    report: &mut CrashReport,
) -> Result<(), sqlx::Error> {
    let v = &mut report.violations;
    type PaymentTuple = (
        String,
        String,
        String,
        String,
        Option<String>,
        i64,
        Option<String>,
        Option<String>,
    );
    let rows: Vec<PaymentTuple> = sqlx::query_as(
        "SELECT payment_id, merchant_id, idempotency_key, status, reason, amount, user_id, device_id FROM payments",
    )
    .fetch_all(&db.write)
    .await?;
    let mut by_key = HashMap::new();
    for row in &rows {
        by_key.insert((row.1.clone(), row.2.clone()), row);
    }
    let records: usize = logs.iter().map(|l| l.records.len()).sum();
    if rows.len() != records {
        v.push(format!(
            "{} payments stored, the clients made {records} requests",
            rows.len()
        ));
    }
    let mut seen_codes = HashSet::new();
    for (c, log) in logs.iter().enumerate() {
        let merchant = &merchants[c].0;
        for r in &log.records {
            let Some(row) = by_key.get(&(merchant.clone(), r.key.clone())) else {
                v.push(format!("{}: not stored (client saw {})", r.key, r.status));
                continue;
            };
            let reason = row.4.clone().unwrap_or_default();
            if row.0 != r.payment_id || row.3 != r.status || reason != r.reason || row.5 != r.amount {
                v.push(format!(
                    "{}: stored {} {} {reason} {}, client saw {} {} {} {}",
                    r.key, row.0, row.3, row.5, r.payment_id, r.status, r.reason, r.amount
                ));
            }
            if r.status == "accepted" {
                if row.7.as_deref() != Some(Fleet::device_id(r.device).as_str()) {
                    v.push(format!("{}: debited device {:?}", r.key, row.7));
                }
                if !seen_codes.insert(r.code.clone()) {
                    v.push(format!("{}: a code accepted twice", r.key));
                }
            }
        }
    }
    // The ledger: one row per accepted payment, same user and amount.
    let ledger: Vec<(String, String, i64)> = sqlx::query_as("SELECT payment_id, user_id, amount FROM ledger")
        .fetch_all(&db.write)
        .await?;
    let accepted: HashMap<&str, &PaymentTuple> = rows
        .iter()
        .filter(|r| r.3 == "accepted")
        .map(|r| (r.0.as_str(), r))
        .collect();
    if ledger.len() != accepted.len() {
        v.push(format!(
            "{} ledger rows for {} accepted payments",
            ledger.len(),
            accepted.len()
        ));
    }
    let mut debited_by_user: HashMap<String, i64> = HashMap::new();
    for (payment_id, user_id, amount) in &ledger {
        match accepted.get(payment_id.as_str()) {
            Some(p) if p.5 == *amount && p.6.as_deref() == Some(user_id.as_str()) => {}
            other => v.push(format!(
                "ledger row {payment_id} does not match its payment {other:?}"
            )),
        }
        *debited_by_user.entry(user_id.clone()).or_default() += amount;
    }
    // Balances: what each user lost is what the ledger says and what its client believes.
    let balances: Vec<(String, i64)> = sqlx::query_as("SELECT user_id, balance FROM users")
        .fetch_all(&db.write)
        .await?;
    let believed: HashMap<String, i64> = logs
        .iter()
        .flat_map(|l| l.balances.iter().map(|(u, b)| (Fleet::user_id(*u), *b)))
        .collect();
    let (mut lost_total, mut ledger_total) = (0i64, 0i64);
    for u in 0..fleet.users {
        let id = Fleet::user_id(u);
        let balance = balances.iter().find(|(i, _)| *i == id).map(|(_, b)| *b);
        let lost = initial_balance(u) - balance.unwrap_or(i64::MIN / 2);
        let debited = debited_by_user.get(&id).copied().unwrap_or(0);
        lost_total += lost;
        ledger_total += debited;
        if lost != debited || balance != believed.get(&id).copied() {
            v.push(format!(
                "{id}: balance {balance:?}, ledger debits {debited}, its client believes {:?}",
                believed.get(&id)
            ));
        }
    }
    let client_total: i64 = logs
        .iter()
        .flat_map(|l| l.records.iter())
        .filter(|r| r.status == "accepted")
        .map(|r| r.amount)
        .sum();
    if lost_total != ledger_total || ledger_total != client_total {
        v.push(format!(
            "unbalanced: balances fell by {lost_total}, ledger {ledger_total}, clients saw {client_total}"
        ));
    }
    // Watermarks: each device's redeemed mark is its newest accepted code.
    let marks: Vec<(String, Option<i64>)> = sqlx::query_as("SELECT device_id, redeemed_mark FROM devices")
        .fetch_all(&db.write)
        .await?;
    let expected: HashMap<String, i64> = logs
        .iter()
        .flat_map(|l| l.redeemed.iter().map(|(d, m)| (Fleet::device_id(*d), *m)))
        .collect();
    for (device_id, mark) in marks {
        if mark != expected.get(&device_id).copied() {
            v.push(format!(
                "{device_id}: redeemed mark {mark:?}, clients' newest accepted code {:?}",
                expected.get(&device_id)
            ));
        }
    }
    Ok(())
}
