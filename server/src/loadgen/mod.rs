//! Load generation shared by the load bench, the crash and guess storms and their tests: a fleet
//! of synthetic devices provisioned straight into the database, a keep-alive HTTP/1.1 client,
//! a seeded random generator and percentiles. The issuer itself never uses this module.

pub mod fleet;
pub mod http;

pub use fleet::Fleet;
pub use http::{Answer, Conn};

/// SplitMix64: a small, fast, seedable generator. Storms print their seed so a run can be
/// repeated; it is not a source of secrets.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator starting from `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// A seed from the OS random source.
    pub fn os_seed() -> u64 {
        let mut bytes = [0u8; 8];
        // Only fails without any OS random source, where nothing else of the issuer works either.
        getrandom::fill(&mut bytes).expect("OS random source");
        u64::from_le_bytes(bytes)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..bound` (`bound` > 0; the modulo bias is irrelevant for load generation).
    pub fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound
    }

    /// Uniform in `low..=high`.
    pub fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.below(high - low + 1)
    }
}

/// Command-line flags of the form `--name value`, each one of `allowed`.
pub fn flags(allowed: &[&str]) -> Result<std::collections::HashMap<String, String>, String> {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let mut out = std::collections::HashMap::new();
    for pair in raw.chunks(2) {
        let name = pair[0].strip_prefix("--").unwrap_or(&pair[0]);
        if !allowed.contains(&name) {
            return Err(format!(
                "unknown argument {:?}: expected one of --{}",
                pair[0],
                allowed.join(", --")
            ));
        }
        let value = pair.get(1).ok_or_else(|| format!("--{name} needs a value"))?;
        out.insert(name.to_owned(), value.clone());
    }
    Ok(out)
}

/// The flag `name` parsed, or `default` if absent.
pub fn flag<T: std::str::FromStr>(
    flags: &std::collections::HashMap<String, String>,
    name: &str,
    default: T,
) -> Result<T, String> {
    flags.get(name).map_or(Ok(default), |v| {
        v.parse().map_err(|_| format!("--{name} {v:?} is not valid"))
    })
}

/// The JSON body of a payment of `amount` EUR cents.
pub fn payment_json(code: &str, amount: i64, idempotency_key: &str) -> String {
    serde_json::json!({"code": code, "amount": amount, "currency": "EUR", "idempotency_key": idempotency_key})
        .to_string()
}

/// The `p` quantile (0..=1) of `sorted` microseconds, in milliseconds (nearest rank).
pub fn percentile_ms(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index] as f64 / 1000.0
}

/// Creates a fresh, uniquely named database on the PostgreSQL server of `url` and returns its
/// URL (query parameters kept).
pub async fn fresh_postgres_database(url: &str) -> Result<String, sqlx::Error> {
    use sqlx::{Connection, Executor};
    sqlx::any::install_default_drivers();
    let name = format!("paycode_test_{}", Rng::os_seed() >> 1);
    let mut conn = sqlx::AnyConnection::connect(url).await?;
    conn.execute(format!("CREATE DATABASE {name}").as_str()).await?;
    conn.close().await?;
    let (head, _) = url
        .split_once('?')
        .map_or(url, |(u, _)| u)
        .rsplit_once('/')
        .ok_or_else(|| sqlx::Error::Configuration("PostgreSQL URL without a database".into()))?;
    let query = url
        .split_once('?')
        .map(|(_, q)| format!("?{q}"))
        .unwrap_or_default();
    Ok(format!("{head}/{name}{query}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rng_is_reproducible_and_percentiles_pick_ranks() {
        let (mut a, mut b) = (Rng::new(7), Rng::new(7));
        let xs: Vec<u64> = (0..5).map(|_| a.between(10, 12)).collect();
        assert_eq!(xs, (0..5).map(|_| b.between(10, 12)).collect::<Vec<_>>());
        assert!(xs.iter().all(|x| (10..=12).contains(x)));
        let sorted: Vec<u64> = (1..=100).map(|i| i * 1000).collect();
        assert_eq!(percentile_ms(&sorted, 0.5), 51.0);
        assert_eq!(percentile_ms(&sorted, 0.99), 99.0);
        assert_eq!(percentile_ms(&[], 0.99), 0.0);
    }
}
