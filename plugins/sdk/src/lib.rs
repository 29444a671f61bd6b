//! paygate-sdk: what an adapter author touches to write a paygate provider adapter.
//!
//! An adapter is a crate of type `cdylib` built for `wasm32-wasip2`. It needs only:
//!
//! ```ignore
//! use paygate_sdk::*;
//!
//! struct MyProvider;
//!
//! impl Provider for MyProvider {
//!     fn info() -> AdapterInfo { /* name, channels, settings, secrets */ }
//!     fn pay(config: Config, request: PayRequest) -> Result<PayResponse, ProviderError> { /* ... */ }
//!     // query, close, refund, parse_notification
//! }
//!
//! paygate_sdk::export_adapter!(MyProvider);
//! ```
//!
//! The contract is `wit/provider.wit` (`paygate:provider@1.0.0`); its types are re-exported
//! here. The helpers below cover what every adapter does: read settings, call HTTP with
//! JSON, sign, make nonces, tell the time, log.

// The generated code names this crate by its public path, also from inside it.
extern crate self as paygate_sdk;

/// The generated bindings of the contract. Adapters use the re-exports below.
pub mod bindings {
    wit_bindgen::generate!({
        world: "adapter",
        path: "../../wit",
        pub_export_macro: true,
        default_bindings_module: "paygate_sdk::bindings",
        runtime_path: "paygate_sdk::__private::wit_bindgen::rt",
    });
}

#[doc(hidden)]
pub mod __private {
    pub use wit_bindgen;
}

pub use bindings::exports::paygate::provider::provider::Guest as Provider;
pub use bindings::paygate::provider::types::{
    AdapterInfo, Config, Money, Notification, NotificationEvent, PayAction, PayRequest,
    PayResponse, Payer, ProviderError, RefundRequest, RefundState, RefundStatus, Refusal,
    Rejection, Reply, SecretKind, SecretSpec, SettingSpec, TradeState, TradeStatus,
};
pub use bindings::paygate::provider::{http, keys};

mod helpers;
pub mod log;

pub use helpers::*;

/// The contract version this SDK builds adapters for.
pub const CONTRACT_VERSION: &str = "1.0.0";

/// Exports `$provider` (a type implementing [`Provider`]) as the adapter's implementation of
/// the contract. Use it once per adapter crate.
///
/// The component exports exist on `wasm32` only: a native build of the adapter crate (its
/// unit tests, `cargo test --workspace`) has no component to export, and a native linker
/// would refuse the contract's export names.
#[macro_export]
macro_rules! export_adapter {
    ($provider:ident) => {
        #[cfg(target_arch = "wasm32")]
        $crate::bindings::export!($provider with_types_in $crate::bindings);

        #[cfg(not(target_arch = "wasm32"))]
        #[allow(dead_code)]
        const _: () = {
            // Natively, keep the implementation checked and its functions "used".
            fn exported<P: $crate::Provider>() -> [*const (); 6] {
                [
                    P::info as *const (),
                    P::pay as *const (),
                    P::query as *const (),
                    P::close as *const (),
                    P::refund as *const (),
                    P::parse_notification as *const (),
                ]
            }
            #[used]
            static EXPORTED: fn() -> [*const (); 6] = exported::<$provider>;
        };
    };
}
