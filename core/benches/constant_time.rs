//! Constant-time checks (dudect, Reparaz et al. 2017): Welch's t-test between the running times
//! of two classes of inputs that differ only in *where* two secrets differ. |t| above ~5 is
//! evidence of a timing leak; below it, none was found with this many samples.
//!
//! ```text
//! cargo bench -p paycode-core --bench constant_time                 # one round per check
//! cargo bench -p paycode-core --bench constant_time -- --continuous seed_eq   # until Ctrl-C
//! ```
//!
//! * `seed_eq`: `Seed == Seed` (the `PartialEq` of every secret key type, `subtle::ct_eq`),
//!   secrets differing in their first byte vs. their last byte.
//! * `naive_eq_control`: the same inputs through an early-exit byte loop, as `==` on slices
//!   may compile to. It must show a large |t|: the check can see a leak of this size.
//!
//! Results: docs/SECURITY.md ("Constant time").

use std::hint::black_box;

use dudect_bencher::ctbench::{BenchMetadata, BenchName, BenchOpts, run_benches_console};
use dudect_bencher::rand::RngExt;
use dudect_bencher::{BenchRng, Class, CtRunner};
use paycode_core::Seed;

const SAMPLES: usize = 200_000;

/// Pairs of 32-byte values that differ in byte 0 (Left) or only in byte 31 (Right).
fn pairs(rng: &mut BenchRng) -> Vec<(Class, [u8; 32], [u8; 32])> {
    (0..SAMPLES)
        .map(|_| {
            let a: [u8; 32] = rng.random();
            let mut b = a;
            let class = if rng.random::<bool>() {
                b[0] ^= 1 | rng.random::<u8>();
                Class::Left
            } else {
                b[31] ^= 1 | rng.random::<u8>();
                Class::Right
            };
            (class, a, b)
        })
        .collect()
}

fn seed_eq(runner: &mut CtRunner, rng: &mut BenchRng) {
    for (class, a, b) in pairs(rng) {
        let (a, b) = (Seed::from_bytes(a), Seed::from_bytes(b));
        runner.run_one(class, || black_box(black_box(&a) == black_box(&b)));
    }
}

fn naive_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    for i in 0..32 {
        if black_box(a[i]) != black_box(b[i]) {
            return false;
        }
    }
    true
}

fn naive_eq_control(runner: &mut CtRunner, rng: &mut BenchRng) {
    for (class, a, b) in pairs(rng) {
        runner.run_one(class, || black_box(naive_eq(black_box(&a), black_box(&b))));
    }
}

/// `ctbench_main!` refuses the `--bench` flag `cargo bench` passes, hence this small main:
/// `[--continuous NAME | --filter NAME]`, anything else ignored.
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let continuous = value("--continuous");
    let opts = BenchOpts {
        continuous: continuous.is_some(),
        filter: continuous.or_else(|| value("--filter")),
        file_out: None,
    };
    let bench = |name: &'static str, benchfn: fn(&mut CtRunner, &mut BenchRng)| BenchMetadata {
        name: BenchName(name),
        seed: None,
        benchfn,
    };
    run_benches_console(
        opts,
        vec![
            bench("seed_eq", seed_eq),
            bench("naive_eq_control", naive_eq_control),
        ],
    )
    .expect("console output");
}
