//! The uniffi binding generator, built only with `--features cli`:
//! `cargo run -p paycode-ffi --features cli --bin uniffi-bindgen -- generate --library ...`.
//! See `scripts/gen-bindings.sh`.
fn main() {
    uniffi::uniffi_bindgen_main()
}
