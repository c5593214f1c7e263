//! What a credential install costs in the slowest keystore we target, Linux keyutils (through
//! `KeyringStore`): the writes the vault makes (`core/src/vault.rs::install`) for a protocol-1
//! bundle (one entry of 391 bytes) and for a protocol-2 bundle at the defaults (86,535 bytes:
//! three chunks of at most 32,000 bytes, a 41-byte manifest), each followed by the 1-byte
//! `active` pointer. `cargo bench -p paycode-core --bench keystore`; figures in
//! docs/PERFORMANCE.md "Protocol v2".

use criterion::{Criterion, criterion_group, criterion_main};
use paycode_core::SecretStore;
use paycode_core::vault::{CHUNK_BYTES, KeyringStore};

const V1_BUNDLE: usize = 391;
const V2_BUNDLE: usize = 86_535;
const MANIFEST: usize = 41;

fn install(store: &KeyringStore, ns: &str, bundle: &[u8]) {
    if bundle.len() <= CHUNK_BYTES {
        store.put(&format!("{ns}.cred.a"), bundle).unwrap();
    } else {
        for (i, chunk) in bundle.chunks(CHUNK_BYTES).enumerate() {
            store.put(&format!("{ns}.cred.a.{i}"), chunk).unwrap();
        }
        store.put(&format!("{ns}.cred.a"), &[0x50; MANIFEST]).unwrap();
    }
    store.put(&format!("{ns}.active"), b"a").unwrap();
}

fn keystore(c: &mut Criterion) {
    let store = KeyringStore::new("paycode-bench").expect("the OS keyring (keyutils) is available");
    let ns = format!("bench-{}", std::process::id());
    let mut group = c.benchmark_group("keystore/install");
    for (name, len) in [("v1_391B", V1_BUNDLE), ("v2_86.5KB", V2_BUNDLE)] {
        let bundle = vec![0xa5u8; len];
        group.bench_function(name, |b| b.iter(|| install(&store, &ns, &bundle)));
    }
    group.finish();
    for name in paycode_core::vault::entry_names(&ns) {
        let _ = store.delete(&name);
    }
}

criterion_group!(benches, keystore);
criterion_main!(benches);
