//! The adapters shipped inside the `paygate` binary, built from `plugins/` by `build.rs`
//! for wasm32-wasip2.

/// The mock adapter (`plugins/mock`), which speaks to the built-in sandbox provider.
pub static MOCK: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/paygate_mock.wasm"));

/// The WeChat Pay API v3 adapter (`plugins/wechat`).
pub static WECHAT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/paygate_wechat.wasm"));

/// The Alipay OpenAPI gateway (RSA2) adapter (`plugins/alipay`).
pub static ALIPAY: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/paygate_alipay.wasm"));

/// Every bundled adapter, by file name.
pub fn bundled() -> [(&'static str, &'static [u8]); 3] {
    [
        ("paygate_mock.wasm", MOCK),
        ("paygate_wechat.wasm", WECHAT),
        ("paygate_alipay.wasm", ALIPAY),
    ]
}
