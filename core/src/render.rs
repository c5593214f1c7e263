//! Barcode and QR symbols of a payment code, so apps need no barcode library: the platform only
//! paints the modules. Both carry the 18 digits with no separators.
//!
//! * QR: numeric mode, error correction M (version 1, 21×21 modules for 18 digits).
//! * Code 128: code set C (digit pairs) — start C, 9 data symbols, check symbol, stop.
//!
//! Quiet zones are the caller's: 4 modules around a QR, 10 modules either side of a barcode.

use barcoders::sym::code128::Code128;
use qrcode::{EcLevel, QrCode};

use crate::code::PaymentCode;

/// A square QR matrix, row-major; `true` is a dark module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QrMatrix {
    size: u32,
    modules: Vec<bool>,
}

impl QrMatrix {
    /// Modules per side.
    pub fn size(&self) -> u32 {
        self.size
    }

    /// Whether the module at column `x`, row `y` is dark (out of range: light).
    pub fn is_dark(&self, x: u32, y: u32) -> bool {
        x < self.size && y < self.size && self.modules[(y * self.size + x) as usize]
    }

    /// All modules, row by row.
    pub fn modules(&self) -> &[bool] {
        &self.modules
    }
}

/// The QR symbol of `code`.
pub fn qr(code: &PaymentCode) -> QrMatrix {
    // 18 digits always fit a version-1 numeric QR at level M (capacity 34 digits).
    let symbol = QrCode::with_error_correction_level(code.digits(), EcLevel::M).expect("18 digits fit a QR");
    let size = symbol.width() as u32;
    let modules = symbol
        .to_colors()
        .into_iter()
        .map(|c| c == qrcode::Color::Dark)
        .collect();
    QrMatrix { size, modules }
}

/// The Code 128 bars of `code`, one entry per module; `true` is a bar.
pub fn code128(code: &PaymentCode) -> Vec<bool> {
    // "Ć" selects code set C; 18 digits are 9 valid pairs.
    let symbol = Code128::new(format!("\u{0106}{}", code.digits())).expect("digit pairs are valid in set C");
    symbol.encode().into_iter().map(|m| m == 1).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Paints modules at `scale` pixels each with a quiet zone, as 8-bit luma (0 = black).
    fn paint(
        width: u32,
        height: u32,
        scale: u32,
        quiet: u32,
        dark: impl Fn(u32, u32) -> bool,
    ) -> (Vec<u8>, u32, u32) {
        let (w, h) = ((width + 2 * quiet) * scale, (height + 2 * quiet) * scale);
        let mut luma = vec![255u8; (w * h) as usize];
        for py in 0..h {
            for px in 0..w {
                let (x, y) = (px / scale, py / scale);
                if x >= quiet
                    && y >= quiet
                    && x - quiet < width
                    && y - quiet < height
                    && dark(x - quiet, y - quiet)
                {
                    luma[(py * w + px) as usize] = 0;
                }
            }
        }
        (luma, w, h)
    }

    fn decode(luma: Vec<u8>, w: u32, h: u32) -> String {
        rxing::helpers::detect_in_luma(luma, w, h, None)
            .expect("decodes")
            .getText()
            .to_string()
    }

    fn sample() -> PaymentCode {
        PaymentCode::parse("2816 7565 2589 992104").unwrap()
    }

    #[test]
    fn qr_decodes_to_the_digits() {
        let matrix = qr(&sample());
        assert_eq!(matrix.size(), 21);
        let (luma, w, h) = paint(matrix.size(), matrix.size(), 4, 4, |x, y| matrix.is_dark(x, y));
        assert_eq!(decode(luma, w, h), "281675652589992104");
    }

    #[test]
    fn code128_decodes_to_the_digits() {
        let bars = code128(&sample());
        // Start (11) + 9 pairs (99) + check (11) + stop (13) modules.
        assert_eq!(bars.len(), 134);
        let (luma, w, h) = paint(bars.len() as u32, 30, 3, 10, |x, _| bars[x as usize]);
        assert_eq!(decode(luma, w, h), "281675652589992104");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn any_code_round_trips_through_both_symbols(digits in "[1-9][0-9]{17}") {
            let code = PaymentCode::parse(&digits).unwrap();
            let matrix = qr(&code);
            let (luma, w, h) = paint(matrix.size(), matrix.size(), 3, 4, |x, y| matrix.is_dark(x, y));
            prop_assert_eq!(decode(luma, w, h), digits.clone());
            let bars = code128(&code);
            let (luma, w, h) = paint(bars.len() as u32, 20, 2, 10, |x, _| bars[x as usize]);
            prop_assert_eq!(decode(luma, w, h), digits);
        }
    }
}
