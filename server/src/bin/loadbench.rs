//! Load bench of the issuer: bulk-provisions devices directly in the database, then drives
//! `POST /v1/payments` over loopback HTTP with 1, 16 and 64 concurrent merchants, each on its
//! own keep-alive connection, every request a fresh valid code of a different device.
//! Reports throughput and p50/p99 latency. Not part of `cargo test`.
//!
//! ```text
//! cargo run --release -p paycode-server --bin paycode-loadbench -- \
//!     [--engine sqlite|postgres] [--devices 1000000] [--seconds 10] [--levels 1,16,64]
//! ```
//! PostgreSQL: `--engine postgres` with `PAYCODE_BENCH_POSTGRES_URL` (or
//! `PAYCODE_TEST_POSTGRES_URL`) naming a server where it may create a database
//! (`scripts/postgres-for-tests.sh start` makes one).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use paycode_core::identity::day_of_step;
use paycode_core::{
    Clock, IdentityKey, IssuerKeyring, IssuerSecret, OfflineCredential, Prefix, Seed, SystemClock, TimeParams,
};
use paycode_server::ratelimit::RateLimits;
use paycode_server::{AppState, Config};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

const USERS: usize = 1_000;
/// Rows per INSERT: sqlx's SQLite binding looks parameters up by name, quadratic in their
/// count, so moderate statements insert fastest.
const BATCH_ROWS: usize = 64;

struct Args {
    engine: String,
    devices: usize,
    seconds: u64,
    levels: Vec<usize>,
}

fn args() -> Args {
    let mut out = Args {
        engine: "sqlite".into(),
        devices: 1_000_000,
        seconds: 10,
        levels: vec![1, 16, 64],
    };
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < raw.len() {
        let value = raw.get(i + 1).cloned().unwrap_or_default();
        match raw[i].as_str() {
            "--engine" => out.engine = value,
            "--devices" => out.devices = value.parse().expect("--devices N"),
            "--seconds" => out.seconds = value.parse().expect("--seconds N"),
            "--levels" => {
                out.levels = value
                    .split(',')
                    .map(|v| v.parse().expect("--levels 1,16,64"))
                    .collect()
            }
            other => panic!("unknown argument {other}"),
        }
        i += 2;
    }
    out
}

/// Slot of device `i`: an injective scatter over 0..10^9 (7919 is prime, coprime to 10^9).
fn slot_of(i: usize) -> u32 {
    ((i as u64 * 7_919 + 13) % 1_000_000_000) as u32
}

fn seed_of(slot: u32) -> [u8; 32] {
    Sha256::digest([b"bench seed ".as_slice(), &slot.to_be_bytes()].concat()).into()
}

async fn fresh_postgres(url: &str) -> String {
    use sqlx::{Connection, Executor};
    sqlx::any::install_default_drivers();
    let name = format!("paycode_bench_{}", SystemClock.now_ms());
    let mut conn = sqlx::AnyConnection::connect(url)
        .await
        .expect("connect to PostgreSQL");
    conn.execute(format!("CREATE DATABASE {name}").as_str())
        .await
        .expect("create bench database");
    let (head, _) = url.rsplit_once('/').expect("URL with a database");
    format!("{head}/{name}")
}

async fn bulk_insert(state: &AppState, devices: usize, valid_from: i64, valid_until: i64) {
    let db = &state.db;
    let mut tx = db.write.begin().await.unwrap();
    for u in 0..USERS {
        sqlx::query(
            "INSERT INTO users (user_id, username, password_hash, balance, created_ms) VALUES ($1, $2, 'x', $3, 0)",
        )
        .bind(format!("usr_bench{u}"))
        .bind(format!("bench{u}"))
        .bind(i64::MAX / 4)
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    let started = Instant::now();
    let mut i = 0;
    while i < devices {
        let mut tx = db.write.begin().await.unwrap();
        let chunk_end = (i + 50_000).min(devices);
        while i < chunk_end {
            let n = BATCH_ROWS.min(chunk_end - i);
            let values: Vec<String> = (0..n)
                .map(|r| {
                    let b = r * 6;
                    format!(
                        "(${}, ${}, ${}, ${}, ${}, ${}, 'bench', 'active', $1, $2, 1, 1, 0)",
                        b + 3,
                        b + 4,
                        b + 5,
                        b + 6,
                        b + 7,
                        b + 8
                    )
                })
                .collect();
            let sql = format!(
                "INSERT INTO devices (device_id, user_id, slot, seed, signing_key, sealing_key, platform, status, \
                 valid_from, valid_until, sequence, key_epoch, created_ms) VALUES {}",
                values.join(", ")
            );
            let mut query = sqlx::query(&sql).bind(valid_from).bind(valid_until);
            for k in i..i + n {
                let slot = slot_of(k);
                query = query
                    .bind(format!("dev_b{k}"))
                    .bind(format!("usr_bench{}", k % USERS))
                    .bind(i64::from(slot))
                    .bind(seed_of(slot).to_vec())
                    .bind(vec![0u8; 32])
                    .bind(vec![9u8; 32]);
            }
            query.execute(&mut *tx).await.unwrap();
            i += n;
        }
        tx.commit().await.unwrap();
    }
    if db.engine == paycode_server::db::Engine::Sqlite {
        // Provisioning happened "earlier": start the run with the WAL folded into the file.
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&db.write)
            .await
            .unwrap();
    } else {
        sqlx::query("VACUUM ANALYZE").execute(&db.write).await.unwrap();
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "bulk insert: {devices} devices in {secs:.1} s ({:.0} rows/s)",
        devices as f64 / secs
    );
}

/// One keep-alive HTTP/1.1 connection.
struct Conn {
    stream: BufReader<TcpStream>,
    auth: String,
}

impl Conn {
    async fn pay(&mut self, body: &str) -> std::io::Result<(u16, Vec<u8>)> {
        let request = format!(
            "POST /v1/payments HTTP/1.1\r\nhost: bench\r\nauthorization: Bearer {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            self.auth,
            body.len()
        );
        self.stream.get_mut().write_all(request.as_bytes()).await?;
        let mut line = String::new();
        self.stream.read_line(&mut line).await?;
        let status: u16 = line.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        let mut length = 0usize;
        loop {
            line.clear();
            self.stream.read_line(&mut line).await?;
            let trimmed = line.trim_end();
            if trimmed.is_empty() {
                break;
            }
            if let Some((name, value)) = trimmed.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0u8; length];
        self.stream.read_exact(&mut body).await?;
        Ok((status, body))
    }
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index] as f64 / 1000.0
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args = args();
    let dir = std::env::temp_dir().join(format!("paycode-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let database_url = match args.engine.as_str() {
        "sqlite" => format!("sqlite:{}", dir.join("bench.db").display()),
        "postgres" => {
            let url = std::env::var("PAYCODE_BENCH_POSTGRES_URL")
                .or_else(|_| std::env::var("PAYCODE_TEST_POSTGRES_URL"))
                .expect("set PAYCODE_BENCH_POSTGRES_URL (scripts/postgres-for-tests.sh start)");
            fresh_postgres(&url).await
        }
        other => panic!("unknown engine {other}"),
    };
    let config = Config {
        database_url,
        strong_password_hashing: false,
        limits: RateLimits {
            merchant_failures: u32::MAX,
            slot_failures: u32::MAX,
            global_failures: u32::MAX,
            ..RateLimits::default()
        },
        ..Config::default()
    };
    let time = TimeParams::default();
    let keyring = IssuerKeyring::new(Prefix::DEFAULT, 1, IssuerSecret::from_bytes([0x33; 32]));
    let state = AppState::new(config, keyring.clone(), Arc::new(SystemClock))
        .await
        .expect("issuer starts");
    let now = SystemClock.now_secs();
    let (valid_from, valid_until) = (now - 3_600, now + 86_400);
    bulk_insert(&state, args.devices, valid_from, valid_until).await;
    let day_keys: Vec<(u32, IdentityKey)> = {
        let first = day_of_step(time.step_at(valid_from).unwrap(), time.step_secs);
        let last = day_of_step(time.step_at(valid_until - 1).unwrap(), time.step_secs);
        (first..=last).map(|d| (d, keyring.day_key(d))).collect()
    };
    let max_level = *args.levels.iter().max().unwrap_or(&1);
    let mut keys = Vec::new();
    for m in 0..max_level {
        keys.push(state.create_merchant(&format!("bench {m}")).await.unwrap().1);
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(paycode_server::serve(
        listener,
        state.clone(),
        std::future::pending(),
    ));

    println!(
        "engine {}, {} devices, {} s per level, 2 tokio workers shared by server and clients",
        args.engine, args.devices, args.seconds
    );
    println!("| engine | merchants | payments | accepted | payments/s | p50 ms | p99 ms | max ms |");
    println!("|---|---|---|---|---|---|---|---|");
    // Devices are used once each, in a scattered order, so no two requests share a device.
    let next_device = Arc::new(AtomicUsize::new(0));
    let request_id = Arc::new(AtomicU64::new(0));
    let day_keys = Arc::new(day_keys);
    for &level in &args.levels {
        let deadline = Instant::now() + Duration::from_secs(args.seconds);
        let started = Instant::now();
        let mut tasks = Vec::new();
        for key in keys.iter().take(level) {
            let (next_device, request_id, day_keys) =
                (next_device.clone(), request_id.clone(), day_keys.clone());
            let devices = args.devices;
            let auth = key.clone();
            tasks.push(tokio::spawn(async move {
                let stream = TcpStream::connect(addr).await.unwrap();
                stream.set_nodelay(true).unwrap();
                let mut conn = Conn {
                    stream: BufReader::new(stream),
                    auth,
                };
                let mut latencies = Vec::new();
                let mut accepted = 0u64;
                while Instant::now() < deadline {
                    let index = next_device.fetch_add(1, Ordering::Relaxed);
                    assert!(index < devices, "ran out of devices: use more --devices or fewer --seconds");
                    // Scatter: consecutive requests hit unrelated rows.
                    let device = (index * 611_953) % devices;
                    let slot = slot_of(device);
                    let credential = OfflineCredential::new(
                        slot,
                        Prefix::DEFAULT,
                        time,
                        Seed::from_bytes(seed_of(slot)),
                        valid_from,
                        valid_until,
                        day_keys.iter().map(|(d, k)| (*d, k.clone())).collect(),
                    )
                    .unwrap();
                    let code = credential.code_at(SystemClock.now_secs(), 0).unwrap();
                    let id = request_id.fetch_add(1, Ordering::Relaxed);
                    let body = format!(
                        "{{\"code\":\"{}\",\"amount\":125,\"currency\":\"EUR\",\"idempotency_key\":\"b{id}\"}}",
                        code.digits()
                    );
                    let t = Instant::now();
                    let (status, answer) = conn.pay(&body).await.expect("HTTP round trip");
                    latencies.push(t.elapsed().as_micros() as u64);
                    if status == 200 && answer.windows(19).any(|w| w == b"\"status\":\"accepted\"") {
                        accepted += 1;
                    }
                }
                (latencies, accepted)
            }));
        }
        let mut all = Vec::new();
        let mut accepted = 0;
        for task in tasks {
            let (latencies, ok) = task.await.unwrap();
            all.extend(latencies);
            accepted += ok;
        }
        let elapsed = started.elapsed().as_secs_f64();
        all.sort_unstable();
        println!(
            "| {} | {level} | {} | {accepted} | {:.0} | {:.2} | {:.2} | {:.2} |",
            args.engine,
            all.len(),
            all.len() as f64 / elapsed,
            percentile(&all, 0.50),
            percentile(&all, 0.99),
            percentile(&all, 1.0),
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
