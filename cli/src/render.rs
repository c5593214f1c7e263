//! Draws a code in a terminal: QR with half-block characters, Code 128 bars, 4-4-4-6 digits.

use paycode_core::PaymentCode;
use paycode_core::render::{code128, qr};

/// The QR symbol as lines of text (two module rows per line), with a 2-module quiet zone.
pub fn qr_lines(code: &PaymentCode) -> Vec<String> {
    let matrix = qr(code);
    let quiet = 2i64;
    let size = i64::from(matrix.size());
    let dark = |x: i64, y: i64| x >= 0 && y >= 0 && matrix.is_dark(x as u32, y as u32);
    let mut lines = Vec::new();
    let mut y = -quiet;
    while y < size + quiet {
        let mut line = String::new();
        for x in -quiet..size + quiet {
            // Light modules are drawn as blocks so the symbol reads on dark terminals.
            line.push(match (!dark(x, y), !dark(x, y + 1)) {
                (true, true) => '█',
                (true, false) => '▀',
                (false, true) => '▄',
                (false, false) => ' ',
            });
        }
        lines.push(line);
        y += 2;
    }
    lines
}

/// The Code 128 bars, one character per module with a 10-module quiet zone, `rows` lines high.
/// Like the QR, light is drawn as blocks so bars read dark on a dark terminal.
pub fn barcode_lines(code: &PaymentCode, rows: usize) -> Vec<String> {
    let quiet = "█".repeat(10);
    let bars: String = code128(code)
        .into_iter()
        .map(|bar| if bar { ' ' } else { '█' })
        .collect();
    vec![format!("{quiet}{bars}{quiet}"); rows]
}
