//! `PaymentCode::parse` (core/src/code.rs) on arbitrary text.
//!
//! Asserts: it never panics; an accepted text is exactly 18 ASCII digits once spaces and dashes
//! are removed, with a prefix of 10-99, and the code round-trips through `digits`, `display`,
//! `Display` and `from_parts` to the same value; a refused text gets the error that describes
//! it (the first bad character and its position, the digit count, or the prefix).
#![no_main]

use libfuzzer_sys::fuzz_target;
use paycode_core::code::{ParseError, PaymentCode};
use paycode_fuzz::{vector_codes, write_seeds_if_asked};

fn allowed(c: char) -> bool {
    c.is_ascii_digit() || c == ' ' || c == '-'
}

fn check(text: &str) {
    let parsed = PaymentCode::parse(text);
    assert_eq!(parsed, text.parse::<PaymentCode>(), "FromStr agrees with parse");
    let normalised: String = text.chars().filter(|c| *c != ' ' && *c != '-').collect();
    match parsed {
        Ok(code) => {
            assert!(
                text.chars().all(allowed),
                "accepted a character other than 0-9, space, dash"
            );
            assert_eq!(normalised.len(), 18, "accepted {normalised:?}");
            assert!(normalised.bytes().all(|b| b.is_ascii_digit()));
            assert_ne!(normalised.as_bytes()[0], b'0', "accepted a prefix below 10");
            let digits = code.digits();
            assert_eq!(digits, normalised, "digits are the normalised input");
            let display = code.display();
            assert_eq!(display.len(), 21);
            assert_eq!(display.replace(' ', ""), digits);
            assert_eq!(
                display.split(' ').map(str::len).collect::<Vec<_>>(),
                [4, 4, 4, 6],
                "display is 4-4-4-6"
            );
            assert_eq!(code.to_string(), display);
            assert_eq!(PaymentCode::parse(&digits), Ok(code));
            assert_eq!(PaymentCode::parse(&display), Ok(code));
            assert_eq!(
                PaymentCode::from_parts(code.prefix(), code.identity(), code.otp()),
                Some(code)
            );
            assert_eq!(&code.routing_digits()[..], &digits.as_bytes()[..12]);
            assert_eq!(
                u64::from(code.prefix().get()),
                digits[..2].parse::<u64>().unwrap()
            );
            assert_eq!(code.identity(), digits[2..12].parse::<u64>().unwrap());
            assert_eq!(u64::from(code.otp()), digits[12..].parse::<u64>().unwrap());
        }
        Err(ParseError::InvalidCharacter { character, position }) => {
            let first_bad = text.chars().enumerate().find(|(_, c)| !allowed(*c));
            assert_eq!(
                first_bad,
                Some((position, character)),
                "names the first bad character"
            );
        }
        Err(ParseError::WrongLength { found }) => {
            assert!(text.chars().all(allowed));
            assert_eq!(found, normalised.len());
            assert_ne!(found, 18);
        }
        Err(ParseError::InvalidPrefix { prefix }) => {
            assert!(text.chars().all(allowed));
            assert_eq!(normalised.len(), 18);
            assert_eq!(u64::from(prefix), normalised[..2].parse::<u64>().unwrap());
            assert!(prefix < 10);
        }
    }
}

fn seeds() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for (i, code) in vector_codes().iter().take(4).enumerate() {
        let parsed = PaymentCode::parse(code).expect("vectors are valid codes");
        out.push((format!("vector-{i}-digits"), code.clone().into_bytes()));
        out.push((format!("vector-{i}-display"), parsed.display().into_bytes()));
    }
    for (name, text) in [
        ("dashes", "2816-7565-2589-992104"),
        ("mixed-separators", " 28167565 2589-992104 "),
        ("short", "28167565258999210"),
        ("long", "2816756525899921045"),
        ("prefix-09", "091675652589992104"),
        ("fullwidth", "２81675652589992104"),
        ("arabic-indic", "28167565258999210٤"),
        ("tab", "2816\t7565258999210"),
        ("empty", ""),
    ] {
        out.push((name.to_owned(), text.as_bytes().to_vec()));
    }
    out
}

fuzz_target!(|data: &[u8]| {
    write_seeds_if_asked(seeds);
    match std::str::from_utf8(data) {
        Ok(text) => check(text),
        Err(_) => check(&String::from_utf8_lossy(data)),
    }
});
