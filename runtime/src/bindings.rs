//! Host bindings of the current adapter contract (`wit/v2/provider.wit`,
//! `paygate:provider@2.0.0`). The generated record and variant types are plain Rust data;
//! the rest of the host uses them through `runtime::contract` without touching wasmtime.
//! Adapters of the previous contract (1.0.0) run through `v1.rs`, converted to these types.

wasmtime::component::bindgen!({
    world: "adapter",
    path: "../wit/v2",
    imports: { default: async },
    exports: { default: async },
    // Serde: 1.0.0 answers become 2.0.0 types by their (identical) shape, see `v1.rs`.
    additional_derives: [PartialEq, serde::Serialize, serde::Deserialize],
});

/// Host bindings of the optional `bills` capability (`wit/bills/bills.wit`,
/// `paygate:bills@1.0.0`) on the 2.0.0 types: a component that exports it besides
/// `paygate:provider/provider@2.0.0` reconciles.
pub mod bills {
    wasmtime::component::bindgen!({
        world: "paygate:bills/bills-export",
        path: "../wit/bills",
        exports: { default: async },
        with: {
            "paygate:provider/types": super::paygate::provider::types,
        },
        additional_derives: [PartialEq, serde::Serialize, serde::Deserialize],
    });
}

/// The contract's data types, for the rest of the host.
pub mod contract {
    pub use super::bills::exports::paygate::bills::bills::{
        BillError, BillKind, BillRow, BillState,
    };
    pub use super::exports::paygate::provider::provider::{
        AdapterInfo, Config, Notification, PayRequest, PayResponse, ProviderError, RefundRequest,
        RefundStatus, Refusal, TradeStatus,
    };
    pub use super::paygate::provider::types::{
        ChannelSpec, Money, NotificationEvent, PayAction, Payer, PayerBinding, RefundState,
        Rejection, Reply, SecretKind, SecretSpec, SettingSpec, TradeState,
    };

    /// The current contract version: what the host's types are.
    pub const CONTRACT_VERSION: &str = "2.0.0";

    /// The payer detail's name in paygate's API (`open_id`, `client_ip`, as in `payer`).
    pub fn binding_name(binding: PayerBinding) -> &'static str {
        match binding {
            PayerBinding::OpenId => "open_id",
            PayerBinding::ClientIp => "client_ip",
        }
    }
}

impl std::fmt::Display for contract::ChannelSpec {
    /// `native`, `jsapi (bound to open_id)`, `h5 (bound to client_ip)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name)?;
        if !self.binds.is_empty() {
            let binds: Vec<&str> = self
                .binds
                .iter()
                .map(|b| contract::binding_name(*b))
                .collect();
            write!(f, " (bound to {})", binds.join(", "))?;
        }
        Ok(())
    }
}
