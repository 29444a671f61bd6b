//! The adapters shipped inside the `paygate` binary (feature `bundled-adapters`, default
//! on), built from `plugins/` by `build.rs` for wasm32-wasip2 and registered as versions at
//! every start.

/// The mock adapter (`plugins/mock`), which speaks to the built-in sandbox provider.
#[cfg(feature = "bundled-adapters")]
pub static MOCK: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/paygate_mock.wasm"));

/// The WeChat Pay API v3 adapter (`plugins/wechat`).
#[cfg(feature = "bundled-adapters")]
pub static WECHAT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/paygate_wechat.wasm"));

/// The Alipay OpenAPI gateway (RSA2) adapter (`plugins/alipay`).
#[cfg(feature = "bundled-adapters")]
pub static ALIPAY: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/paygate_alipay.wasm"));

/// Every bundled adapter, by file name; none in a build without `bundled-adapters`.
pub fn bundled() -> Vec<(&'static str, &'static [u8])> {
    #[cfg(feature = "bundled-adapters")]
    {
        vec![
            ("paygate_mock.wasm", MOCK),
            ("paygate_wechat.wasm", WECHAT),
            ("paygate_alipay.wasm", ALIPAY),
        ]
    }
    #[cfg(not(feature = "bundled-adapters"))]
    {
        Vec::new()
    }
}
