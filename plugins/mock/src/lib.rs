//! paygate's mock adapter: the flows of a real adapter for the sandbox provider paygate
//! serves itself (`PROTOCOL.md`). It signs its requests with the merchant's HMAC key through
//! the host's `keys` import, calls the sandbox through the `http` import, and verifies the
//! sandbox's notifications the same way. Wire types, signature messages and state and error
//! maps are in `wire.rs`.
//!
//! Settings: `sandbox_url` (the sandbox's base URL, which is also the adapter's whole
//! outbound allowlist), `account_id`, and optionally `refunds` (`off`: every refund answered
//! as unsupported). Secret: `api_key` (`hmac-key`). Channels: `web` (redirect to the
//! sandbox's checkout page) and `qr` (a QR code whose content is that page's URL). A pay
//! request's `payer.return-url` goes to the sandbox, whose page sends the payer there after
//! paying.
//!
//! It is shipped, so it has no test switches: the misbehaving adapter the sandbox tests use
//! is `tests/adapters/chaos`.

// The `fuzzing` feature (used by `fuzz/` only) makes the pure parsers public, so the fuzz
// targets run them natively; the adapter itself is the same with or without it.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod wire;
#[cfg(not(feature = "fuzzing"))]
mod wire;

use paygate_sdk::http::{self, Method};
use paygate_sdk::keys::{self, SignatureAlgorithm};
use paygate_sdk::{
    channel, hex_encode, json_body, json_reply, json_request, method_name, nonce, request,
    required_setting, send, setting, unix_now, AdapterInfo, Config, Headers, Notification,
    NotificationEvent, PayAction, PayRequest, PayResponse, Provider, ProviderError, RefundRequest,
    RefundStatus, Refusal, SecretKind, SecretSpec, SettingSpec, TradeStatus, CONTRACT_VERSION,
};

use wire::{CreateRefund, CreateTrade, NotificationHeaders, RefundCreated, Trade, TradeCreated};

/// The secret that signs requests and notifications, an `hmac-key`.
const API_KEY: &str = "api_key";

struct Mock;

impl Provider for Mock {
    fn info() -> AdapterInfo {
        AdapterInfo {
            name: "mock".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            contract_version: CONTRACT_VERSION.into(),
            // The sandbox's checkout page is bound to no payer detail.
            channels: vec![channel("web", &[]), channel("qr", &[])],
            settings: vec![
                SettingSpec {
                    name: "sandbox_url".into(),
                    required: true,
                    description:
                        "base URL of the sandbox provider, e.g. http://127.0.0.1:8080/sandbox"
                            .into(),
                    is_base_url: true,
                    default_value: None,
                },
                SettingSpec {
                    name: "account_id".into(),
                    required: true,
                    description: "the merchant's sandbox account (POST /sandbox/accounts)".into(),
                    is_base_url: false,
                    default_value: None,
                },
                SettingSpec {
                    name: "refunds".into(),
                    required: false,
                    description:
                        "`off` makes the adapter answer every refund as unsupported, as an \
                                  adapter for a provider without refunds would"
                            .into(),
                    is_base_url: false,
                    default_value: None,
                },
            ],
            secrets: vec![SecretSpec {
                name: API_KEY.into(),
                kind: SecretKind::HmacKey,
                required: true,
                description: "the sandbox account's API key, which signs requests and \
                              notifications"
                    .into(),
            }],
        }
    }

    fn pay(config: Config, request: PayRequest) -> Result<PayResponse, ProviderError> {
        let channel = request.channel.as_str();
        if channel != "web" && channel != "qr" {
            return Err(ProviderError::Unsupported(format!(
                "channel `{channel}`: the sandbox offers `web` and `qr`"
            )));
        }
        let body = CreateTrade {
            payment_no: &request.payment_no,
            amount: request.amount.minor,
            currency: &request.amount.currency,
            subject: &request.subject,
            channel,
            expires_at: request.expires_at,
            notify_url: &request.notify_url,
            return_url: request.payer.return_url.as_deref(),
        };
        let call = json_request(Method::Post, &url(&config, "/api/trades")?, &body)?;
        let created: TradeCreated = json_body(&signed(&config, call)?)?;
        let action = if channel == "qr" {
            PayAction::QrCode(created.pay_url)
        } else {
            PayAction::Redirect(created.pay_url)
        };
        Ok(PayResponse {
            action,
            provider_trade_id: Some(created.trade_id),
            // The checkout page works until the trade's deadline.
            action_expires_at: None,
        })
    }

    fn query(config: Config, payment_no: String) -> Result<TradeStatus, ProviderError> {
        let path = wire::trade_path(&payment_no)?;
        let call = request(Method::Get, &url(&config, &path)?);
        let trade: Trade = json_body(&signed(&config, call)?)?;
        wire::trade_status(trade)
    }

    fn close(config: Config, payment_no: String) -> Result<(), ProviderError> {
        let path = format!("{}/close", wire::trade_path(&payment_no)?);
        signed(&config, request(Method::Post, &url(&config, &path)?)).map(|_| ())
    }

    fn refund(config: Config, request: RefundRequest) -> Result<RefundStatus, ProviderError> {
        if setting(&config, "refunds") == Some("off") {
            return Err(ProviderError::Unsupported(
                "refunds are turned off for this merchant".into(),
            ));
        }
        let path = format!("{}/refunds", wire::trade_path(&request.payment_no)?);
        let body = CreateRefund {
            refund_no: &request.refund_no,
            amount: request.amount.minor,
            currency: &request.amount.currency,
            reason: request.reason.as_deref(),
        };
        let call = json_request(Method::Post, &url(&config, &path)?, &body)?;
        let refund: RefundCreated = json_body(&signed(&config, call)?)?;
        wire::refund_status(request.payment_no, &request.amount.currency, refund)
    }

    fn query_refund(
        _config: Config,
        _payment_no: String,
        _refund_no: String,
    ) -> Result<RefundStatus, ProviderError> {
        // PROTOCOL.md has no refund query: the sandbox settles a refund in its answer, and a
        // repeated refund_no is answered again, never refunded twice.
        Err(ProviderError::Unsupported(
            "the sandbox has no refund query; it answers a repeated refund_no again".into(),
        ))
    }

    fn parse_notification(
        config: Config,
        headers: Headers,
        body: Vec<u8>,
    ) -> Result<Notification, Refusal> {
        let account = required_setting(&config, "account_id").map_err(refuse)?;
        let signed = NotificationHeaders::read(&headers, account, unix_now())
            .map_err(|reason| refuse(ProviderError::BadSignature(reason)))?;
        let message = wire::notification_message(signed.timestamp, signed.nonce, &body);
        let verified = keys::verify(
            API_KEY,
            SignatureAlgorithm::HmacSha256,
            &message,
            &signed.signature,
        )
        .map_err(|e| refuse(e.into()))?;
        if !verified {
            return Err(refuse(ProviderError::BadSignature(format!(
                "{} does not verify",
                wire::SIGNATURE_HEADER
            ))));
        }
        let status = wire::paid_notification(&body).map_err(refuse)?;
        Ok(Notification {
            event: NotificationEvent::Payment(status),
            ack: json_reply(200, &serde_json::json!({"code": "SUCCESS"})),
            retry: json_reply(
                500,
                &serde_json::json!({"code": "FAIL", "message": "try again later"}),
            ),
        })
    }
}

/// The sandbox's URL for `path` (which starts with `/api/`).
fn url(config: &Config, path: &str) -> Result<String, ProviderError> {
    let base = required_setting(config, "sandbox_url")?.trim_end_matches('/');
    Ok(format!("{base}{path}"))
}

/// Signs `call` as PROTOCOL.md says, sends it, and turns an answer that is not a 2xx into
/// the matching error.
fn signed(config: &Config, mut call: http::Request) -> Result<http::Response, ProviderError> {
    let account = required_setting(config, "account_id")?;
    let timestamp = unix_now();
    let nonce = nonce(24)?;
    let message = wire::request_message(
        method_name(call.method),
        wire::path_of(&call.url),
        timestamp,
        &nonce,
        &call.body,
    );
    let signature = keys::sign(API_KEY, SignatureAlgorithm::HmacSha256, &message)?;
    call.headers.extend([
        (wire::ACCOUNT_HEADER.to_owned(), account.to_owned()),
        (wire::TIMESTAMP_HEADER.to_owned(), timestamp.to_string()),
        (wire::NONCE_HEADER.to_owned(), nonce),
        (wire::SIGNATURE_HEADER.to_owned(), hex_encode(&signature)),
    ]);
    let response = send(call)?;
    if (200..300).contains(&response.status) {
        Ok(response)
    } else {
        Err(wire::error_for(response.status, &response.body))
    }
}

/// A refused notification with the reply PROTOCOL.md asks for: `401 {"code": "FAIL"}` for
/// a bad signature, 400 for a body we cannot read, 500 (the sandbox retries) when the fault
/// is our configuration — whose details stay in the error, not in the reply.
fn refuse(error: ProviderError) -> Refusal {
    let (status, message) = match &error {
        ProviderError::BadSignature(reason) => (401, reason.clone()),
        ProviderError::Rejected(rejection) => (400, rejection.message.clone()),
        _ => (
            500,
            "the receiver cannot check this notification now".to_owned(),
        ),
    };
    Refusal {
        reply: json_reply(
            status,
            &serde_json::json!({"code": "FAIL", "message": message}),
        ),
        error,
    }
}

paygate_sdk::export_adapter!(Mock);
