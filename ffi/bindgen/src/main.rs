//! `uniffi-bindgen`: generates the foreign-language bindings of `bianmin-ffi` from the built
//! library (library mode), e.g.
//! `cargo run -p bianmin-uniffi-bindgen -- generate --library target/debug/libbianmin_ffi.so
//! --language kotlin --out-dir out/kotlin --no-format`. See `docs/mobile.md`.

fn main() {
    uniffi::uniffi_bindgen_main()
}
