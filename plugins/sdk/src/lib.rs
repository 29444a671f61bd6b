//! paygate-sdk: what an adapter author touches to write a paygate provider adapter — the
//! contract's types, the [`Provider`] trait, the [`export_adapter!`] macro, the host's
//! imports ([`http`], [`keys`], [`log`]) and the helpers every adapter needs.
//!
//! An adapter is a crate of type `cdylib` built for `wasm32-wasip2`:
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
//! The README has a complete adapter (checked by `cargo test` as a doctest). The contract is
//! `wit/v2/provider.wit` (`paygate:provider@2.0.0`); every type re-exported here is documented
//! there. The helpers read settings and headers, encode hex, make nonces, tell the time,
//! build and send JSON requests, and map the imports' errors to [`ProviderError`]s that say
//! what the host should do next. The modules [`money`], [`encoding`] and [`datetime`] hold
//! what every adapter otherwise rewrites: minor units as a provider's decimal text per
//! currency, base64 and form encoding, and a provider's local time and RFC 3339.

// The generated code names this crate by its public path, also from inside it.
extern crate self as paygate_sdk;

/// The generated bindings of the contract. Adapters use the re-exports at the crate root.
pub mod bindings {
    wit_bindgen::generate!({
        world: "adapter",
        // Relative to this crate's Cargo.toml: the current contract, `wit/v2`.
        path: "../../wit/v2",
        pub_export_macro: true,
        default_bindings_module: "paygate_sdk::bindings",
        // Adapters depend on paygate-sdk only, not on wit-bindgen.
        runtime_path: "paygate_sdk::__private::wit_bindgen::rt",
        // So that adapters' tests can `assert_eq!` on results and errors.
        additional_derives: [PartialEq, Eq],
    });
}

/// The generated bindings of the optional `bills` capability (`wit/bills/bills.wit`,
/// `paygate:bills@1.0.0`), on the contract's own types. Adapters use the re-exports at the
/// crate root ([`Bills`], [`BillRow`]...) and [`export_bills!`].
pub mod bills_bindings {
    wit_bindgen::generate!({
        world: "paygate:bills/bills-export",
        path: "../../wit/bills",
        pub_export_macro: true,
        default_bindings_module: "paygate_sdk::bills_bindings",
        runtime_path: "paygate_sdk::__private::wit_bindgen::rt",
        with: {
            "paygate:provider/types@2.0.0": crate::bindings::paygate::provider::types,
        },
        additional_derives: [PartialEq, Eq],
    });
}

#[doc(hidden)]
pub mod __private {
    pub use wit_bindgen;
}

pub use bills_bindings::exports::paygate::bills::bills::{
    BillError, BillKind, BillRow, BillState, Guest as Bills,
};
pub use bindings::exports::paygate::provider::provider::Guest as Provider;
pub use bindings::paygate::provider::types::{
    AdapterInfo, ChannelSpec, Config, Headers, Money, Notification, NotificationEvent, PayAction,
    PayRequest, PayResponse, Payer, PayerBinding, ProviderError, RefundRequest, RefundState,
    RefundStatus, Refusal, Rejection, Reply, SecretKind, SecretSpec, SettingSpec, TradeState,
    TradeStatus, UnixSeconds,
};
pub use bindings::paygate::provider::{http, keys};

mod calls;
pub mod datetime;
pub mod encoding;
mod helpers;
pub mod log;
pub mod money;

pub use calls::{json_body, json_reply, json_request, request, send, send_json};
pub use helpers::{
    channel, header, hex_decode, hex_encode, method_name, nonce, required_setting, setting,
    unix_now,
};

/// The contract version this SDK builds adapters for: what `AdapterInfo::contract_version`
/// must say.
pub const CONTRACT_VERSION: &str = "2.0.0";

/// Exports `$provider` (a type implementing [`Provider`]) as the adapter's implementation of
/// the contract. Use it once per adapter crate, at its root:
///
/// ```ignore
/// paygate_sdk::export_adapter!(MyProvider);
/// ```
///
/// The component exports exist on `wasm32` only: a native build of the adapter crate (its
/// unit tests, `cargo test --workspace`) has no component to export, and a native linker
/// would refuse the contract's export names. Natively the macro still checks that
/// `$provider` implements [`Provider`] and keeps its functions from being reported unused.
#[macro_export]
macro_rules! export_adapter {
    ($provider:ident) => {
        #[cfg(target_arch = "wasm32")]
        $crate::bindings::export!($provider with_types_in $crate::bindings);

        #[cfg(not(target_arch = "wasm32"))]
        const _: () = {
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

/// Exports `$provider` (a type implementing [`Bills`]) as the adapter's bills: the optional
/// capability that makes paygate reconcile this provider. Use it beside
/// [`export_adapter!`], on the same type or another:
///
/// ```ignore
/// paygate_sdk::export_adapter!(MyProvider);
/// paygate_sdk::export_bills!(MyProvider);
/// ```
#[macro_export]
macro_rules! export_bills {
    ($provider:ident) => {
        #[cfg(target_arch = "wasm32")]
        $crate::bills_bindings::export!($provider with_types_in $crate::bills_bindings);

        #[cfg(not(target_arch = "wasm32"))]
        const _: () = {
            fn exported<P: $crate::Bills>() -> *const () {
                P::fetch_bill as *const ()
            }
            #[used]
            static EXPORTED_BILLS: fn() -> *const () = exported::<$provider>;
        };
    };
}

// The README's adapter is compiled (not run) with the doctests, so it cannot drift from
// this crate's API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
