//! Adversarial long runs against the issuer (docs/STORMS.md): the crash storm kills the real
//! server binary during a payment storm and checks every client's records against the ledger;
//! the guess storm throws random codes from many merchant keys while honest merchants pay, and
//! measures what the attack costs them. Both return a report; `paycode-crashstorm` and
//! `paycode-guessstorm` print it, `tests/crash.rs` and `tests/guess.rs` assert on it.

pub mod crash;
pub mod guess;

use std::collections::HashSet;

/// What [`find_leaks`] found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Leaks {
    /// The secrets that occur verbatim.
    pub secrets: Vec<String>,
    /// How many full payment codes of the given set occur, in any grouping of digits with
    /// spaces or dashes (`281234567890123456`, `2812 3456 7890 123456`, …).
    pub codes: usize,
}

/// Searches a log for `secrets` (verbatim) and for the payment codes in `codes`.
pub fn find_leaks(log: &str, secrets: &[String], codes: &HashSet<String>) -> Leaks {
    let mut leaks = Leaks {
        secrets: secrets
            .iter()
            .filter(|s| !s.is_empty() && log.contains(s.as_str()))
            .cloned()
            .collect(),
        codes: 0,
    };
    // Runs of digits, single spaces or dashes between digits allowed.
    let bytes = log.as_bytes();
    let mut run = String::new();
    let mut flush = |run: &mut String| {
        if run.len() >= 18 {
            leaks.codes += (0..=run.len() - 18)
                .filter(|&i| codes.contains(&run[i..i + 18]))
                .count();
        }
        run.clear();
    };
    for (i, &b) in bytes.iter().enumerate() {
        if b.is_ascii_digit() {
            run.push(char::from(b));
        } else {
            let joins = matches!(b, b' ' | b'-')
                && !run.is_empty()
                && bytes.get(i + 1).is_some_and(u8::is_ascii_digit);
            if !joins {
                flush(&mut run);
            }
        }
    }
    flush(&mut run);
    leaks
}

/// Standard base64 (how secrets would appear if some code logged them like the wire does).
pub fn b64(bytes: &[u8]) -> String {
    paycode_core::wire::b64(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_codes_in_any_grouping_and_secrets_verbatim() {
        let codes: HashSet<String> = ["281234567890123456".to_owned()].into();
        let secrets = vec!["pck_abc".to_owned(), "nothere".to_owned()];
        let log = "a pck_abc b 2812 3456 7890 123456 c 2812-3456-7890-123456 d 99281234567890123456 e 1 2";
        let found = find_leaks(log, &secrets, &codes);
        assert_eq!(found.secrets, vec!["pck_abc".to_owned()]);
        assert_eq!(found.codes, 3);
        let clean = find_leaks("time 1795309200000 slot 12 34 pay_0123456789", &secrets, &codes);
        assert_eq!(clean, Leaks::default());
    }
}
