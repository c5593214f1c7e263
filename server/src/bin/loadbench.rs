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

use paycode_core::{Clock, IssuerKeyring, IssuerSecret, Prefix, SystemClock, TimeParams};
use paycode_server::loadgen::{
    Conn, Fleet, flag, flags, fresh_postgres_database, payment_json, percentile_ms,
};
use paycode_server::ratelimit::RateLimits;
use paycode_server::{AppState, Config};

const USERS: usize = 1_000;

struct Args {
    engine: String,
    devices: usize,
    seconds: u64,
    levels: Vec<usize>,
}

fn args() -> Result<Args, String> {
    let flags = flags(&["engine", "devices", "seconds", "levels"])?;
    let levels = flag(&flags, "levels", "1,16,64".to_owned())?
        .split(',')
        .map(|v| {
            v.parse()
                .map_err(|_| format!("--levels {v:?}: expected e.g. 1,16,64"))
        })
        .collect::<Result<_, _>>()?;
    Ok(Args {
        engine: flag(&flags, "engine", "sqlite".to_owned())?,
        devices: flag(&flags, "devices", 1_000_000)?,
        seconds: flag(&flags, "seconds", 10)?,
        levels,
    })
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args = args().unwrap_or_else(|e| {
        eprintln!("paycode-loadbench: {e}");
        std::process::exit(2)
    });
    let dir = std::env::temp_dir().join(format!("paycode-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let database_url = match args.engine.as_str() {
        "sqlite" => format!("sqlite:{}", dir.join("bench.db").display()),
        "postgres" => {
            let url = std::env::var("PAYCODE_BENCH_POSTGRES_URL")
                .or_else(|_| std::env::var("PAYCODE_TEST_POSTGRES_URL"))
                .expect("set PAYCODE_BENCH_POSTGRES_URL (scripts/postgres-for-tests.sh start)");
            fresh_postgres_database(&url)
                .await
                .expect("create a bench database")
        }
        other => panic!("unknown engine {other}"),
    };
    let config = Config {
        database_url,
        strong_password_hashing: false,
        limits: RateLimits {
            merchant_failures: u32::MAX,
            merchant_slot_failures: u32::MAX,
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
    let fleet = Fleet::new(&keyring, time, args.devices, USERS, now);
    let took = fleet
        .insert(&state, |_| i64::MAX / 4)
        .await
        .expect("bulk insert")
        .as_secs_f64();
    println!(
        "bulk insert: {} devices in {took:.1} s ({:.0} rows/s)",
        args.devices,
        args.devices as f64 / took
    );
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
    let fleet = Arc::new(fleet);
    for &level in &args.levels {
        let deadline = Instant::now() + Duration::from_secs(args.seconds);
        let started = Instant::now();
        let mut tasks = Vec::new();
        for key in keys.iter().take(level) {
            let (next_device, request_id, fleet) = (next_device.clone(), request_id.clone(), fleet.clone());
            let auth = key.clone();
            tasks.push(tokio::spawn(async move {
                let mut conn = Conn::connect(addr).await.expect("connect to the issuer");
                let mut latencies = Vec::new();
                let mut accepted = 0u64;
                while Instant::now() < deadline {
                    let index = next_device.fetch_add(1, Ordering::Relaxed);
                    assert!(
                        index < fleet.devices,
                        "ran out of devices: use more --devices or fewer --seconds"
                    );
                    let device = fleet.scatter(index);
                    let code = fleet
                        .credential(device)
                        .code_at(SystemClock.now_secs(), 0)
                        .unwrap();
                    let id = request_id.fetch_add(1, Ordering::Relaxed);
                    let body = payment_json(&code.digits(), 125, &format!("b{id}"));
                    let t = Instant::now();
                    let answer = conn
                        .post("/v1/payments", Some(&auth), &body)
                        .await
                        .expect("HTTP round trip");
                    latencies.push(t.elapsed().as_micros() as u64);
                    if answer.is_accepted() {
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
            percentile_ms(&all, 0.50),
            percentile_ms(&all, 0.99),
            percentile_ms(&all, 1.0),
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
