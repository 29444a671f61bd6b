//! Host bindings of the adapter contract (`wit/provider.wit`, `paygate:provider@1.0.0`).
//! The generated record and variant types are plain Rust data; the rest of the host uses
//! them through `runtime::contract` without touching wasmtime.

wasmtime::component::bindgen!({
    world: "adapter",
    path: "../wit",
    imports: { default: async },
    exports: { default: async },
    additional_derives: [PartialEq],
});

/// The contract's data types, for the rest of the host.
pub mod contract {
    pub use super::exports::paygate::provider::provider::{
        AdapterInfo, Config, Notification, PayRequest, PayResponse, ProviderError, RefundRequest,
        RefundStatus, Refusal, TradeStatus,
    };
    pub use super::paygate::provider::types::{
        Money, NotificationEvent, PayAction, Payer, RefundState, Rejection, Reply, SecretKind,
        SecretSpec, SettingSpec, TradeState,
    };

    /// The contract version this host implements.
    pub const CONTRACT_VERSION: &str = "1.0.0";
}
