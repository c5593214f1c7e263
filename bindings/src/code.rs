//! Parsing and formatting 18-digit codes (pure helpers, for scanners, manual entry and tests),
//! and a no-op that measures the cost of one boundary crossing.

use paycode_core::code::{ParseError, PaymentCode};

/// A syntactically valid 18-digit code split into its fields. Holding one proves nothing about
/// its authenticity: only the issuer's verifier decides that.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ParsedCode {
    /// The issuer prefix, 10–99.
    pub prefix: u8,
    /// The 10-digit identity field as a number below 10^10.
    pub identity: u64,
    /// The 6-digit one-time password as a number below 10^6.
    pub otp: u32,
    /// The 18 digits with no separators (what barcodes carry).
    pub digits: String,
    /// The 4-4-4-6 display form, e.g. "2816 7565 2589 992104".
    pub display: String,
}

/// Why a text is not a payment code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
#[uniffi::export(Display)]
pub enum CodeError {
    /// Not 18 digits once spaces and dashes are removed.
    #[error("a payment code has 18 digits, this has {found}")]
    WrongLength {
        /// Digits found.
        found: u32,
    },
    /// A character other than an ASCII digit, a space or a dash.
    #[error(
        "character {character:?} at position {position} is not an ASCII digit (only 0-9, spaces and dashes are allowed)"
    )]
    InvalidCharacter {
        /// The offending character.
        character: String,
        /// Its index in characters (not bytes), from 0.
        position: u32,
    },
    /// The first two digits are below 10.
    #[error("prefix {prefix:02} is not a valid issuer prefix (10-99)")]
    InvalidPrefix {
        /// The two leading digits.
        prefix: u8,
    },
}

impl From<ParseError> for CodeError {
    fn from(e: ParseError) -> Self {
        let clamp = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        match e {
            ParseError::WrongLength { found } => CodeError::WrongLength { found: clamp(found) },
            ParseError::InvalidCharacter { character, position } => CodeError::InvalidCharacter {
                character: character.to_string(),
                position: clamp(position),
            },
            ParseError::InvalidPrefix { prefix } => CodeError::InvalidPrefix { prefix },
        }
    }
}

impl From<PaymentCode> for ParsedCode {
    fn from(code: PaymentCode) -> Self {
        Self {
            prefix: code.prefix().get(),
            identity: code.identity(),
            otp: code.otp(),
            digits: code.digits(),
            display: code.display(),
        }
    }
}

/// Parses 18 ASCII digits, ignoring spaces and dashes (`"2816-7565 2589 992104"`).
#[uniffi::export]
pub fn parse_code(text: String) -> Result<ParsedCode, CodeError> {
    Ok(PaymentCode::parse(&text)?.into())
}

/// The 4-4-4-6 display form of a code given in any accepted spelling.
#[uniffi::export]
pub fn format_code(text: String) -> Result<String, CodeError> {
    Ok(PaymentCode::parse(&text)?.display())
}

/// Does nothing: the floor of a boundary crossing, for benchmarks.
#[uniffi::export]
pub fn noop() {}
