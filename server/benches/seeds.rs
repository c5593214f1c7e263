//! `cargo bench -p paycode-server --bench seeds`: what sealing seeds at rest costs
//! (server/src/seeds.rs). `open` runs once per candidate device of every verified code; `seal`
//! once per provisioning. Compare with `verify/default_window` of `cargo bench -p paycode-core`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use paycode_core::{IssuerKeyring, IssuerSecret, Prefix};
use paycode_server::seeds::SeedSealer;

fn seeds(c: &mut Criterion) {
    let sealer = SeedSealer::new(&IssuerKeyring::new(
        Prefix::DEFAULT,
        1,
        IssuerSecret::from_bytes([5; 32]),
    ));
    let seed = [7u8; 32];
    let sealed = sealer.seal("dev_0123456789abcdef", &seed, [1; 12]);
    c.bench_function("seeds/open", |b| {
        b.iter(|| sealer.open(black_box("dev_0123456789abcdef"), black_box(&sealed)))
    });
    c.bench_function("seeds/seal", |b| {
        b.iter(|| sealer.seal(black_box("dev_0123456789abcdef"), black_box(&seed), [2; 12]))
    });
}

criterion_group!(benches, seeds);
criterion_main!(benches);
