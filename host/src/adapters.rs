//! The adapters shipped inside the `paygate` binary, built from `plugins/` by `build.rs`
//! for wasm32-wasip2.

/// The mock adapter (`plugins/mock`), which speaks to the built-in sandbox provider.
pub static MOCK: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/paygate_mock.wasm"));

/// Every bundled adapter, by file name.
pub fn bundled() -> [(&'static str, &'static [u8]); 1] {
    [("paygate_mock.wasm", MOCK)]
}
