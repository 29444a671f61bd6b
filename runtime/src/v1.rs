//! Adapters of the frozen contract `paygate:provider@1.0.0` (`wit/v1/provider.wit`), run
//! beside the current one: their bindings, the host's imports in their types (delegating to
//! the current implementations), and their answers converted to the current types.
//!
//! Most 1.0.0 types have exactly the shape of their 2.0.0 counterparts, so they convert by
//! shape (serde, field by field and case by case); the fields 2.0.0 added take their
//! neutral value (`action-expires-at`: none, until the trade's deadline, as 1.0.0 meant).
//! Only `adapter-info` changed shape: a 1.0.0 channel binds its action to no payer detail.
//! HTTP requests and answers, which carry bodies of up to a megabyte, convert by hand.
//! The tests convert every request type 2.0.0 -> 1.0.0 -> 2.0.0 and compare, so a field
//! added to 2.0.0 that 1.0.0 would silently drop fails them.

use serde::de::DeserializeOwned;
use serde::Serialize;
use wasmtime::Store;

use super::bindings::contract::{self, ChannelSpec};
use super::bindings::paygate::provider as current;
use super::call::CallState;

wasmtime::component::bindgen!({
    world: "adapter",
    path: "../wit/v1",
    imports: { default: async },
    exports: { default: async },
    additional_derives: [serde::Serialize, serde::Deserialize],
});

use self::paygate::provider::{http, keys, log, types};

/// The export that tells a 1.0.0 component.
pub(super) const EXPORT_NAME: &str = "paygate:provider/provider@1.0.0";

/// Converts between the two contracts' types of the same shape. Failing is a host bug (the
/// shapes drifted apart); it fails the call, never the host.
fn shape<A: Serialize, B: DeserializeOwned>(value: &A) -> Result<B, String> {
    serde_json::to_value(value)
        .and_then(serde_json::from_value)
        .map_err(|e| format!("contract 1.0.0 value does not convert: {e}"))
}

fn shape_call<A: Serialize, B: DeserializeOwned>(value: &A) -> wasmtime::Result<B> {
    shape(value).map_err(wasmtime::Error::msg)
}

/// A 1.0.0 adapter's description in the current types.
fn info_of(info: types::AdapterInfo) -> wasmtime::Result<contract::AdapterInfo> {
    Ok(contract::AdapterInfo {
        channels: info
            .channels
            .iter()
            .map(|name| ChannelSpec {
                name: name.clone(),
                binds: Vec::new(),
            })
            .collect(),
        settings: shape_call(&info.settings)?,
        secrets: shape_call(&info.secrets)?,
        name: info.name,
        version: info.version,
        contract_version: info.contract_version,
    })
}

pub(super) async fn info(
    b: &Adapter,
    store: &mut Store<CallState>,
) -> wasmtime::Result<contract::AdapterInfo> {
    info_of(b.paygate_provider_provider().call_info(store).await?)
}

pub(super) async fn pay(
    b: &Adapter,
    store: &mut Store<CallState>,
    config: &contract::Config,
    req: &contract::PayRequest,
) -> wasmtime::Result<Result<contract::PayResponse, contract::ProviderError>> {
    let answer = b
        .paygate_provider_provider()
        .call_pay(store, &shape_call(config)?, &shape_call(req)?)
        .await?;
    shape_call(&answer)
}

pub(super) async fn query(
    b: &Adapter,
    store: &mut Store<CallState>,
    config: &contract::Config,
    payment_no: &str,
) -> wasmtime::Result<Result<contract::TradeStatus, contract::ProviderError>> {
    let answer = b
        .paygate_provider_provider()
        .call_query(store, &shape_call(config)?, payment_no)
        .await?;
    shape_call(&answer)
}

pub(super) async fn close(
    b: &Adapter,
    store: &mut Store<CallState>,
    config: &contract::Config,
    payment_no: &str,
) -> wasmtime::Result<Result<(), contract::ProviderError>> {
    let answer = b
        .paygate_provider_provider()
        .call_close(store, &shape_call(config)?, payment_no)
        .await?;
    shape_call(&answer)
}

pub(super) async fn refund(
    b: &Adapter,
    store: &mut Store<CallState>,
    config: &contract::Config,
    req: &contract::RefundRequest,
) -> wasmtime::Result<Result<contract::RefundStatus, contract::ProviderError>> {
    let answer = b
        .paygate_provider_provider()
        .call_refund(store, &shape_call(config)?, &shape_call(req)?)
        .await?;
    shape_call(&answer)
}

pub(super) async fn parse_notification(
    b: &Adapter,
    store: &mut Store<CallState>,
    config: &contract::Config,
    headers: &[(String, String)],
    body: &[u8],
) -> wasmtime::Result<Result<contract::Notification, contract::Refusal>> {
    let answer = b
        .paygate_provider_provider()
        .call_parse_notification(store, &shape_call(config)?, &headers.to_vec(), body)
        .await?;
    shape_call(&answer)
}

impl types::Host for CallState {}

impl log::Host for CallState {
    async fn log(&mut self, level: log::Level, message: String) {
        let level = match level {
            log::Level::Trace => current::log::Level::Trace,
            log::Level::Debug => current::log::Level::Debug,
            log::Level::Info => current::log::Level::Info,
            log::Level::Warn => current::log::Level::Warn,
            log::Level::Error => current::log::Level::Error,
        };
        current::log::Host::log(self, level, message).await
    }
}

impl http::Host for CallState {
    // By hand, not by shape: bodies of up to a megabyte must not go through JSON values.
    async fn send(&mut self, req: http::Request) -> Result<http::Response, http::Error> {
        use current::http as now;
        let method = match req.method {
            http::Method::Get => now::Method::Get,
            http::Method::Post => now::Method::Post,
            http::Method::Put => now::Method::Put,
            http::Method::Delete => now::Method::Delete,
            http::Method::Patch => now::Method::Patch,
        };
        let req = now::Request {
            method,
            url: req.url,
            headers: req.headers,
            body: req.body,
        };
        match now::Host::send(self, req).await {
            Ok(r) => Ok(http::Response {
                status: r.status,
                headers: r.headers,
                body: r.body,
            }),
            Err(now::Error::Denied(m)) => Err(http::Error::Denied(m)),
            Err(now::Error::Timeout) => Err(http::Error::Timeout),
            Err(now::Error::Connection(m)) => Err(http::Error::Connection(m)),
            Err(now::Error::TooLarge) => Err(http::Error::TooLarge),
            Err(now::Error::Invalid(m)) => Err(http::Error::Invalid(m)),
        }
    }
}

impl keys::Host for CallState {
    async fn sign(
        &mut self,
        key: String,
        algorithm: keys::SignatureAlgorithm,
        message: Vec<u8>,
    ) -> Result<Vec<u8>, keys::Error> {
        let algorithm = shape(&algorithm).map_err(keys::Error::InvalidInput)?;
        shape(&self.keys.sign(&key, algorithm, &message)).map_err(keys::Error::InvalidInput)?
    }

    async fn verify(
        &mut self,
        key: String,
        algorithm: keys::SignatureAlgorithm,
        message: Vec<u8>,
        signature: Vec<u8>,
    ) -> Result<bool, keys::Error> {
        let algorithm = shape(&algorithm).map_err(keys::Error::InvalidInput)?;
        shape(&self.keys.verify(&key, algorithm, &message, &signature))
            .map_err(keys::Error::InvalidInput)?
    }

    async fn decrypt(
        &mut self,
        key: String,
        cipher: keys::Cipher,
        nonce: Vec<u8>,
        associated_data: Vec<u8>,
        ciphertext: Vec<u8>,
    ) -> Result<Vec<u8>, keys::Error> {
        let cipher = shape(&cipher).map_err(keys::Error::InvalidInput)?;
        let answer = self
            .keys
            .decrypt(&key, cipher, &nonce, &associated_data, &ciphertext);
        shape(&answer).map_err(keys::Error::InvalidInput)?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn money() -> types::Money {
        types::Money {
            minor: 1234,
            currency: "CNY".into(),
        }
    }

    #[test]
    fn a_1_0_0_description_binds_its_channels_to_nothing() {
        let info = info_of(types::AdapterInfo {
            name: "mock".into(),
            version: "0.1.0".into(),
            contract_version: "1.0.0".into(),
            channels: vec!["web".into(), "qr".into()],
            settings: vec![types::SettingSpec {
                name: "sandbox_url".into(),
                required: true,
                description: "base".into(),
                is_base_url: true,
                default_value: None,
            }],
            secrets: vec![types::SecretSpec {
                name: "api_key".into(),
                kind: types::SecretKind::HmacKey,
                required: true,
                description: "key".into(),
            }],
        })
        .expect("converts");
        assert_eq!(info.channels.len(), 2);
        assert!(info.channels.iter().all(|c| c.binds.is_empty()));
        assert_eq!(info.channels[1].name, "qr");
        assert_eq!(info.secrets[0].kind, contract::SecretKind::HmacKey);
        assert!(info.settings[0].is_base_url);
    }

    #[test]
    fn a_1_0_0_pay_answer_is_valid_until_the_deadline() {
        let answer: Result<types::PayResponse, types::ProviderError> = Ok(types::PayResponse {
            action: types::PayAction::SdkParams(vec![("appId".into(), "wx1".into())]),
            provider_trade_id: Some("T1".into()),
        });
        let converted: Result<contract::PayResponse, contract::ProviderError> =
            shape(&answer).expect("converts");
        let response = converted.expect("ok");
        assert_eq!(response.action_expires_at, None);
        assert_eq!(
            response.action,
            contract::PayAction::SdkParams(vec![("appId".into(), "wx1".into())])
        );
    }

    /// Converts 2.0.0 -> 1.0.0 -> 2.0.0: what the host sends a 1.0.0 adapter loses nothing.
    fn round_trip<V2, V1>(value: &V2) -> V2
    where
        V2: Serialize + DeserializeOwned,
        V1: Serialize + DeserializeOwned,
    {
        let old: V1 = shape(value).expect("to 1.0.0");
        shape(&old).expect("back to 2.0.0")
    }

    #[test]
    fn requests_reach_a_1_0_0_adapter_whole() {
        let money = contract::Money {
            minor: 990,
            currency: "CNY".into(),
        };
        let config = contract::Config {
            merchant_id: "m_1".into(),
            settings: vec![("sandbox_url".into(), "http://127.0.0.1:1".into())],
        };
        assert_eq!(round_trip::<_, types::Config>(&config), config);
        let pay = contract::PayRequest {
            payment_no: "P1".into(),
            amount: money.clone(),
            subject: "Tea".into(),
            channel: "web".into(),
            expires_at: 1_700_000_000,
            notify_url: "https://pay.example.com/v1/notify/mock/m_1".into(),
            payer: contract::Payer {
                open_id: Some("oA".into()),
                client_ip: Some("203.0.113.7".into()),
                return_url: Some("https://shop.example.com/done".into()),
            },
        };
        assert_eq!(round_trip::<_, types::PayRequest>(&pay), pay);
        let refund = contract::RefundRequest {
            payment_no: "P1".into(),
            refund_no: "R1".into(),
            amount: money.clone(),
            total: money,
            reason: Some("damaged".into()),
            notify_url: "https://pay.example.com/v1/notify/mock/m_1".into(),
        };
        assert_eq!(round_trip::<_, types::RefundRequest>(&refund), refund);
    }

    #[test]
    fn a_1_0_0_error_counts_under_the_same_outcome_as_its_2_0_0_twin() {
        use crate::CallOutcome;
        let cases = [
            (
                types::ProviderError::Config("api_key".into()),
                "misconfigured",
            ),
            (
                types::ProviderError::Unreachable("reset".into()),
                "unreachable",
            ),
            (
                types::ProviderError::Unsupported("h5".into()),
                "unsupported",
            ),
            (types::ProviderError::BadSignature("x".into()), "rejected"),
            (types::ProviderError::NotFound, "ok"),
        ];
        for (error, label) in cases {
            let converted: contract::ProviderError = shape(&error).expect("converts");
            assert_eq!(
                CallOutcome::of_error(&converted).as_str(),
                label,
                "{error:?}"
            );
        }
    }

    #[test]
    fn errors_statuses_and_notifications_keep_their_meaning() {
        let error: Result<(), types::ProviderError> =
            Err(types::ProviderError::Rejected(types::Rejection {
                code: "SIGN_ERROR".into(),
                message: "bad".into(),
            }));
        let converted: Result<(), contract::ProviderError> = shape(&error).expect("converts");
        assert_eq!(
            converted,
            Err(contract::ProviderError::Rejected(contract::Rejection {
                code: "SIGN_ERROR".into(),
                message: "bad".into()
            }))
        );
        let reply = types::Reply {
            status: 200,
            headers: vec![("content-type".into(), "text/plain".into())],
            body: b"success".to_vec(),
        };
        let note = types::Notification {
            event: types::NotificationEvent::Payment(types::TradeStatus {
                payment_no: "P1".into(),
                state: types::TradeState::Refunded,
                provider_trade_id: None,
                paid_amount: Some(money()),
                paid_at: Some(1_700_000_000),
            }),
            ack: reply.clone(),
            retry: reply,
        };
        let converted: contract::Notification = shape(&note).expect("converts");
        let contract::NotificationEvent::Payment(status) = converted.event else {
            panic!("a payment event stays one");
        };
        assert_eq!(status.state, contract::TradeState::Refunded);
        assert_eq!(status.paid_amount.map(|m| m.minor), Some(1234));
        assert_eq!(converted.ack.body, b"success");
    }
}
