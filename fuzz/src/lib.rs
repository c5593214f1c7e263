//! Helpers shared by the fuzz targets in `fuzz_targets/`: a byte reader that splits one fuzz
//! input into choices, fixed keys and times, and the seed-corpus writer. See docs/FUZZING.md.

use std::path::PathBuf;

/// 2026-11-22T00:00:00Z, the time the fixtures are issued at (as in the core's tests).
pub const T0: i64 = 1_795_305_600;

/// The unix time of the vectors in `docs/test-vectors.json` (inside the fixtures' validity).
pub const VECTOR_TIME: i64 = 1_795_348_830;

/// The issuer secret of `docs/test-vectors.json` (bytes 0x10..=0x2f), so that the vectors'
/// codes are genuine codes of the `verify` fixture.
pub fn vector_issuer_secret() -> [u8; 32] {
    std::array::from_fn(|i| 0x10 + i as u8)
}

/// The seed of `docs/test-vectors.json` (bytes 0x01..=0x20), of slot 123456789.
pub fn vector_seed() -> [u8; 32] {
    std::array::from_fn(|i| 1 + i as u8)
}

/// Reads choices off the front of a fuzz input; past the end every read yields zeros/empty,
/// so any input is a valid sequence of choices.
#[derive(Debug, Clone)]
pub struct Bytes<'a>(pub &'a [u8]);

impl<'a> Bytes<'a> {
    /// One byte (0 past the end).
    pub fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((b, rest)) => {
                self.0 = rest;
                *b
            }
            None => 0,
        }
    }

    /// A big-endian u16.
    pub fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.u8(), self.u8()])
    }

    /// A big-endian u32.
    pub fn u32(&mut self) -> u32 {
        u32::from_be_bytes(std::array::from_fn(|_| self.u8()))
    }

    /// A big-endian i64.
    pub fn i64(&mut self) -> i64 {
        i64::from_be_bytes(std::array::from_fn(|_| self.u8()))
    }

    /// A length-prefixed (one byte) slice, cut short at the end of the input.
    pub fn chunk(&mut self) -> &'a [u8] {
        let n = usize::from(self.u8()).min(self.0.len());
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        head
    }

    /// A length-prefixed chunk as text (invalid UTF-8 replaced).
    pub fn text(&mut self) -> String {
        String::from_utf8_lossy(self.chunk()).into_owned()
    }

    /// Everything left.
    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.0)
    }

    /// Whether nothing is left.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Builds an input for [`Bytes::chunk`]: a length byte and at most 255 bytes.
pub fn chunk(out: &mut Vec<u8>, bytes: &[u8]) {
    let n = bytes.len().min(255);
    out.push(n as u8);
    out.extend_from_slice(&bytes[..n]);
}

/// Seed-corpus generation: when `PAYCODE_FUZZ_WRITE_SEEDS=DIR` is set, a target writes the
/// seeds `make` returns into DIR (named `seed-<name>`) and exits, e.g.
/// `PAYCODE_FUZZ_WRITE_SEEDS=$PWD/fuzz/corpus/verify cargo +nightly fuzz run verify -- -runs=1`
/// (`scripts/fuzz.sh --seeds` does this for every target).
/// Checked once per process: a no-op after the first input.
pub fn write_seeds_if_asked(make: impl FnOnce() -> Vec<(String, Vec<u8>)>) {
    static CHECKED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if CHECKED.swap(true, std::sync::atomic::Ordering::Relaxed) {
        return;
    }
    let Some(dir) = std::env::var_os("PAYCODE_FUZZ_WRITE_SEEDS") else {
        return;
    };
    let dir = PathBuf::from(dir);
    std::fs::create_dir_all(&dir).expect("create the seed directory");
    let seeds = make();
    for (name, bytes) in &seeds {
        std::fs::write(dir.join(format!("seed-{name}")), bytes).expect("write a seed");
    }
    eprintln!("wrote {} seeds to {}", seeds.len(), dir.display());
    std::process::exit(0);
}

/// The 18-digit codes of `docs/test-vectors.json` (read at build time).
pub fn vector_codes() -> Vec<String> {
    let json: serde_json::Value =
        serde_json::from_str(include_str!("../../docs/test-vectors.json")).expect("vectors are JSON");
    json["vectors"]
        .as_array()
        .expect("a vectors array")
        .iter()
        .filter_map(|v| v["code"].as_str().map(str::to_owned))
        .collect()
}
