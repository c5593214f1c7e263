//! The 18-digit payment code: layout, parsing and display. This file decides the layout.
//!
//! ```text
//!  digits  1-2        3-12                    13-18
//!          prefix     identity field          OTP
//!          PP         IIIIIIIIII              OOOOOO
//!  display PPII IIII IIII OOOOOO      (4-4-4-6, e.g. "2816 7565 2589 992104")
//! ```
//!
//! * **prefix** (10–99): routes the code to its issuer, as 25–30 does for Alipay.
//! * **identity field**: FF1 encryption of `slot * 10 + counter` (see [`crate::identity`]).
//! * **OTP**: 6 digits of HMAC-SHA1 over the seed (see [`crate::otp`] and `docs/PROTOCOL.md`).

use std::fmt;
use std::str::FromStr;

/// Total digits in a payment code.
pub const CODE_DIGITS: usize = 18;
/// Digits of the identity field.
pub const IDENTITY_DIGITS: u32 = 10;
/// Digits of the OTP.
pub const OTP_DIGITS: u32 = 6;
/// Exclusive upper bound of the identity field (10^10).
pub const IDENTITY_SPACE: u64 = 10_000_000_000;
/// Exclusive upper bound of device slots under one prefix (10^9).
pub const SLOT_SPACE: u32 = 1_000_000_000;
/// Codes a device can make in one time step (the refresh counter is one decimal digit).
pub const COUNTERS_PER_STEP: u8 = 10;

/// Why a string is not a payment code. Parsing changes nothing and never panics.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Not 18 digits once spaces and dashes are removed.
    #[error("a payment code has 18 digits, this has {found}")]
    WrongLength {
        /// Digits found (other characters are rejected before counting ends).
        found: usize,
    },
    /// A character other than an ASCII digit, a space or a dash.
    #[error(
        "character {character:?} at position {position} is not an ASCII digit (only 0-9, spaces and dashes are allowed)"
    )]
    InvalidCharacter {
        /// The offending character.
        character: char,
        /// Its index in characters (not bytes) from 0.
        position: usize,
    },
    /// The first two digits are below 10 (a prefix never starts with 0).
    #[error("prefix {prefix:02} is not a valid issuer prefix (10-99)")]
    InvalidPrefix {
        /// The two leading digits.
        prefix: u8,
    },
}

/// An issuer prefix, 10–99.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Prefix(u8);

impl Prefix {
    /// paycode's default prefix.
    pub const DEFAULT: Prefix = Prefix(28);

    /// A prefix in 10..=99, or `None`.
    pub const fn new(value: u8) -> Option<Self> {
        if value >= 10 && value <= 99 {
            Some(Self(value))
        } else {
            None
        }
    }

    /// The two-digit number.
    pub const fn get(self) -> u8 {
        self.0
    }
}

impl Default for Prefix {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}", self.0)
    }
}

/// A syntactically valid 18-digit code, split into its fields. Holding one proves nothing about
/// its authenticity: only [`crate::verifier::Verifier`] decides that.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PaymentCode {
    prefix: Prefix,
    identity: u64,
    otp: u32,
}

impl PaymentCode {
    /// Assembles a code from its fields, or `None` if a field is out of range.
    pub fn from_parts(prefix: Prefix, identity: u64, otp: u32) -> Option<Self> {
        (identity < IDENTITY_SPACE && otp < 10u32.pow(OTP_DIGITS)).then_some(Self {
            prefix,
            identity,
            otp,
        })
    }

    /// Parses 18 ASCII digits, ignoring spaces and dashes anywhere (`"2816-7565 2589 992104"`).
    /// Anything else, including non-ASCII digits such as full-width `１`, is an error.
    pub fn parse(input: &str) -> Result<Self, ParseError> {
        let mut digits = [0u8; CODE_DIGITS];
        let mut count = 0usize;
        for (position, character) in input.chars().enumerate() {
            match character {
                ' ' | '-' => continue,
                '0'..='9' => {
                    if count < CODE_DIGITS {
                        digits[count] = character as u8 - b'0';
                    }
                    count += 1;
                }
                _ => return Err(ParseError::InvalidCharacter { character, position }),
            }
        }
        if count != CODE_DIGITS {
            return Err(ParseError::WrongLength { found: count });
        }
        let number = |range: std::ops::Range<usize>| {
            digits[range].iter().fold(0u64, |acc, d| acc * 10 + u64::from(*d))
        };
        let prefix_value = number(0..2) as u8;
        let prefix = Prefix::new(prefix_value).ok_or(ParseError::InvalidPrefix { prefix: prefix_value })?;
        Ok(Self {
            prefix,
            identity: number(2..12),
            otp: number(12..18) as u32,
        })
    }

    /// The issuer prefix.
    pub fn prefix(&self) -> Prefix {
        self.prefix
    }

    /// The 10-digit identity field as a number below 10^10.
    pub fn identity(&self) -> u64 {
        self.identity
    }

    /// The 6-digit OTP as a number below 10^6.
    pub fn otp(&self) -> u32 {
        self.otp
    }

    /// The first 12 digits as ASCII (prefix and identity field): the OTP's message starts with
    /// them.
    pub fn routing_digits(&self) -> [u8; 12] {
        let mut out = [0u8; 12];
        write_decimal(&mut out[0..2], u64::from(self.prefix.get()));
        write_decimal(&mut out[2..12], self.identity);
        out
    }

    /// The 18 digits with no separators, as scanners and barcodes carry them.
    pub fn digits(&self) -> String {
        format!("{:02}{:010}{:06}", self.prefix.get(), self.identity, self.otp)
    }

    /// The 4-4-4-6 display form, `"2816 7565 2589 992104"`.
    pub fn display(&self) -> String {
        let d = self.digits();
        format!("{} {} {} {}", &d[0..4], &d[4..8], &d[8..12], &d[12..18])
    }
}

/// Writes `value` as zero-padded ASCII decimal filling `out` (the value must fit).
fn write_decimal(out: &mut [u8], mut value: u64) {
    for slot in out.iter_mut().rev() {
        *slot = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

impl fmt::Display for PaymentCode {
    /// The 4-4-4-6 display form.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display())
    }
}

impl FromStr for PaymentCode {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn display_is_4_4_4_6() {
        let code = PaymentCode::parse("281675652589992104").unwrap();
        assert_eq!(code.display(), "2816 7565 2589 992104");
        assert_eq!(code.prefix().get(), 28);
        assert_eq!(code.identity(), 1_675_652_589);
        assert_eq!(code.otp(), 992_104);
        assert_eq!(&code.routing_digits(), b"281675652589");
    }

    #[test]
    fn separators_are_tolerated() {
        let want = PaymentCode::parse("281675652589992104").unwrap();
        for text in [
            "2816 7565 2589 992104",
            "2816-7565-2589-992104",
            " 28167565 2589-992104 ",
            "2-8-1-6-7565258999210-4",
        ] {
            assert_eq!(PaymentCode::parse(text), Ok(want), "{text:?}");
        }
    }

    #[test]
    fn bad_inputs_get_typed_errors() {
        use ParseError::*;
        assert_eq!(PaymentCode::parse(""), Err(WrongLength { found: 0 }));
        assert_eq!(
            PaymentCode::parse("28167565258999210"),
            Err(WrongLength { found: 17 })
        );
        assert_eq!(
            PaymentCode::parse("2816756525899921045"),
            Err(WrongLength { found: 19 })
        );
        assert_eq!(
            PaymentCode::parse("28167565258999210a"),
            Err(InvalidCharacter {
                character: 'a',
                position: 17
            })
        );
        // Full-width and Arabic-Indic digits are digits to Unicode, not to us.
        assert_eq!(
            PaymentCode::parse("２81675652589992104"),
            Err(InvalidCharacter {
                character: '２',
                position: 0
            })
        );
        assert_eq!(
            PaymentCode::parse("28167565258999210٤"),
            Err(InvalidCharacter {
                character: '٤',
                position: 17
            })
        );
        assert_eq!(
            PaymentCode::parse("2816\t7565258999210"),
            Err(InvalidCharacter {
                character: '\t',
                position: 4
            })
        );
        assert_eq!(
            PaymentCode::parse("091675652589992104"),
            Err(InvalidPrefix { prefix: 9 })
        );
    }

    #[test]
    fn from_parts_checks_ranges() {
        assert!(PaymentCode::from_parts(Prefix::DEFAULT, IDENTITY_SPACE, 0).is_none());
        assert!(PaymentCode::from_parts(Prefix::DEFAULT, 0, 1_000_000).is_none());
        let code = PaymentCode::from_parts(Prefix::new(10).unwrap(), 7, 42).unwrap();
        assert_eq!(code.digits(), "100000000007000042");
        assert!(Prefix::new(9).is_none() && Prefix::new(100).is_none());
    }

    proptest! {
        #[test]
        fn format_then_parse_round_trips(prefix in 10u8..=99, identity in 0..IDENTITY_SPACE, otp in 0u32..1_000_000) {
            let code = PaymentCode::from_parts(Prefix::new(prefix).unwrap(), identity, otp).unwrap();
            prop_assert_eq!(PaymentCode::parse(&code.digits()), Ok(code));
            prop_assert_eq!(PaymentCode::parse(&code.display()), Ok(code));
            prop_assert_eq!(code.display().replace(' ', ""), code.digits());
        }

        #[test]
        fn parse_never_panics(input in "\\PC{0,40}") {
            let _ = PaymentCode::parse(&input);
        }

        #[test]
        fn parsed_codes_print_back_their_digits(input in "[1-9][0-9]{17}") {
            let code = PaymentCode::parse(&input).unwrap();
            prop_assert_eq!(code.digits(), input);
        }
    }
}
