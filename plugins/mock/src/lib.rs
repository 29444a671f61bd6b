//! paygate's mock adapter: a real adapter for the built-in sandbox provider
//! (`PROTOCOL.md`). It signs its requests with the merchant's HMAC key through the host's
//! `keys` import, calls the sandbox through the `http` import, and verifies the sandbox's
//! notifications the same way. Channels: `web` (redirect to the sandbox checkout page) and
//! `qr` (a QR code whose content is that page's URL).
//!
//! Test scenarios. When the merchant's setting `scenarios` is `on`, the subject of a pay
//! request can make the adapter misbehave, so tests can prove the host contains it:
//! `scenario:trap` panics, `scenario:spin` loops forever, `scenario:oom` allocates until
//! memory runs out, `scenario:log` writes to stdout, stderr and the log, then pays normally.
//! Without the setting these subjects are ordinary text.

mod wire;

use paygate_sdk::http::Method;
use paygate_sdk::keys::{self, SignatureAlgorithm};
use paygate_sdk::{
    header, hex_decode, hex_encode, json_body, nonce, required_setting, send, setting, unix_now,
    AdapterInfo, Config, Notification, NotificationEvent, PayAction, PayRequest, PayResponse,
    Provider, ProviderError, RefundRequest, RefundState, RefundStatus, Refusal, Reply, SecretKind,
    SecretSpec, SettingSpec, TradeStatus,
};

use wire::{CreateRefund, CreateTrade, RefundCreated, Trade, TradeCreated};

/// How far a notification's timestamp may be from our clock.
const NOTIFICATION_WINDOW_SECS: i64 = 300;

struct Mock;

impl Provider for Mock {
    fn info() -> AdapterInfo {
        AdapterInfo {
            name: "mock".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            contract_version: paygate_sdk::CONTRACT_VERSION.into(),
            channels: vec!["web".into(), "qr".into()],
            settings: vec![
                SettingSpec {
                    name: "sandbox_url".into(),
                    required: true,
                    description:
                        "base URL of the sandbox provider, e.g. http://127.0.0.1:8080/sandbox"
                            .into(),
                    is_base_url: true,
                },
                SettingSpec {
                    name: "account_id".into(),
                    required: true,
                    description: "the merchant's sandbox account (POST /sandbox/accounts)".into(),
                    is_base_url: false,
                },
                SettingSpec {
                    name: "scenarios".into(),
                    required: false,
                    description: "`on` enables test scenarios chosen by the pay request's subject"
                        .into(),
                    is_base_url: false,
                },
            ],
            secrets: vec![SecretSpec {
                name: "api_key".into(),
                kind: SecretKind::HmacKey,
                required: true,
                description:
                    "the sandbox account's API key, which signs requests and notifications".into(),
            }],
        }
    }

    fn pay(config: Config, request: PayRequest) -> Result<PayResponse, ProviderError> {
        if setting(&config, "scenarios") == Some("on") {
            run_scenario(&request.subject);
        }
        if request.channel != "web" && request.channel != "qr" {
            return Err(ProviderError::Unsupported(format!(
                "channel `{}`",
                request.channel
            )));
        }
        let body = serde_json::to_vec(&CreateTrade {
            payment_no: &request.payment_no,
            amount: request.amount.minor,
            currency: &request.amount.currency,
            subject: &request.subject,
            channel: &request.channel,
            expires_at: request.expires_at,
            notify_url: &request.notify_url,
        })
        .map_err(|e| ProviderError::Config(e.to_string()))?;
        let response = call(&config, Method::Post, "/api/trades", body)?;
        let created: TradeCreated = json_body(&response)?;
        let action = match request.channel.as_str() {
            "qr" => PayAction::QrCode(created.pay_url),
            _ => PayAction::Redirect(created.pay_url),
        };
        Ok(PayResponse {
            action,
            provider_trade_id: Some(created.trade_id),
        })
    }

    fn query(config: Config, payment_no: String) -> Result<TradeStatus, ProviderError> {
        let response = call(
            &config,
            Method::Get,
            &format!("/api/trades/{payment_no}"),
            Vec::new(),
        )?;
        let trade: Trade = json_body(&response)?;
        trade_status(trade)
    }

    fn close(config: Config, payment_no: String) -> Result<(), ProviderError> {
        call(
            &config,
            Method::Post,
            &format!("/api/trades/{payment_no}/close"),
            Vec::new(),
        )
        .map(|_| ())
    }

    fn refund(config: Config, request: RefundRequest) -> Result<RefundStatus, ProviderError> {
        let body = serde_json::to_vec(&CreateRefund {
            refund_no: &request.refund_no,
            amount: request.amount.minor,
            currency: &request.amount.currency,
            reason: request.reason.as_deref(),
        })
        .map_err(|e| ProviderError::Config(e.to_string()))?;
        let response = call(
            &config,
            Method::Post,
            &format!("/api/trades/{}/refunds", request.payment_no),
            body,
        )?;
        let refund: RefundCreated = json_body(&response)?;
        let state = match refund.state.as_str() {
            "succeeded" => RefundState::Succeeded,
            "failed" => RefundState::Failed,
            _ => RefundState::Processing,
        };
        Ok(RefundStatus {
            payment_no: request.payment_no,
            refund_no: refund.refund_no,
            state,
            provider_refund_id: refund.refund_id,
            amount: refund.amount.map(|minor| paygate_sdk::Money {
                minor,
                currency: request.amount.currency.clone(),
            }),
        })
    }

    fn parse_notification(
        config: Config,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    ) -> Result<Notification, Refusal> {
        let refuse = |status: u16, error: ProviderError, why: &str| Refusal {
            error,
            reply: fail_reply(status, why),
        };
        let account = required_setting(&config, "account_id")
            .map_err(|e| refuse(500, e, "adapter is not configured"))?;
        let (Some(from), Some(timestamp), Some(nonce), Some(signature)) = (
            header(&headers, "x-sandbox-account"),
            header(&headers, "x-sandbox-timestamp"),
            header(&headers, "x-sandbox-nonce"),
            header(&headers, "x-sandbox-signature"),
        ) else {
            return Err(refuse(
                401,
                ProviderError::BadSignature("signature headers missing".into()),
                "signature headers missing",
            ));
        };
        if from != account {
            return Err(refuse(
                401,
                ProviderError::BadSignature(format!("notification for account `{from}`")),
                "wrong account",
            ));
        }
        let fresh = timestamp
            .parse::<i64>()
            .is_ok_and(|t| (unix_now() - t).abs() <= NOTIFICATION_WINDOW_SECS);
        if !fresh {
            return Err(refuse(
                401,
                ProviderError::BadSignature("stale or malformed timestamp".into()),
                "stale timestamp",
            ));
        }
        let signature = hex_decode(signature).ok_or_else(|| {
            refuse(
                401,
                ProviderError::BadSignature("signature is not hex".into()),
                "bad signature",
            )
        })?;
        let message = wire::notification_message(timestamp, nonce, &body);
        match keys::verify(
            "api_key",
            SignatureAlgorithm::HmacSha256,
            &message,
            &signature,
        ) {
            Ok(true) => {}
            Ok(false) => {
                return Err(refuse(
                    401,
                    ProviderError::BadSignature("signature does not verify".into()),
                    "bad signature",
                ))
            }
            Err(e) => {
                return Err(refuse(
                    500,
                    ProviderError::Config(format!("key api_key: {e:?}")),
                    "adapter is not configured",
                ))
            }
        }
        let trade: Trade = serde_json::from_slice(&body).map_err(|e| {
            refuse(
                400,
                ProviderError::Rejected(paygate_sdk::Rejection {
                    code: "BAD_BODY".into(),
                    message: e.to_string(),
                }),
                "unreadable body",
            )
        })?;
        let status = trade_status(trade).map_err(|e| refuse(400, e, "unknown trade state"))?;
        Ok(Notification {
            event: NotificationEvent::Payment(status),
            ack: json_reply(200, r#"{"code":"SUCCESS"}"#),
            retry: json_reply(500, r#"{"code":"FAIL","message":"try again later"}"#),
        })
    }
}

/// A signed call to the sandbox; non-2xx answers become the matching error.
fn call(
    config: &Config,
    method: Method,
    path: &str,
    body: Vec<u8>,
) -> Result<paygate_sdk::http::Response, ProviderError> {
    let base = required_setting(config, "sandbox_url")?.trim_end_matches('/');
    let account = required_setting(config, "account_id")?;
    let url = format!("{base}{path}");
    let timestamp = unix_now();
    let nonce = nonce(24);
    let verb = match method {
        Method::Get => "GET",
        Method::Post => "POST",
        Method::Put => "PUT",
        Method::Delete => "DELETE",
        Method::Patch => "PATCH",
    };
    let message = wire::request_message(verb, wire::path_of(&url), timestamp, &nonce, &body);
    let signature = keys::sign("api_key", SignatureAlgorithm::HmacSha256, &message)
        .map_err(|e| ProviderError::Config(format!("cannot sign with api_key: {e:?}")))?;
    let mut headers = vec![
        ("x-sandbox-account".to_owned(), account.to_owned()),
        ("x-sandbox-timestamp".to_owned(), timestamp.to_string()),
        ("x-sandbox-nonce".to_owned(), nonce),
        ("x-sandbox-signature".to_owned(), hex_encode(&signature)),
    ];
    if !body.is_empty() {
        headers.push(("content-type".to_owned(), "application/json".to_owned()));
    }
    let response = send(method, &url, headers, body)?;
    if (200..300).contains(&response.status) {
        Ok(response)
    } else {
        Err(wire::error_for(response.status, &response.body))
    }
}

fn trade_status(trade: Trade) -> Result<TradeStatus, ProviderError> {
    let state = wire::trade_state(&trade.state).ok_or_else(|| {
        ProviderError::Unreachable(format!("unknown trade state `{}`", trade.state))
    })?;
    Ok(TradeStatus {
        paid_amount: wire::paid_amount(&trade),
        payment_no: trade.payment_no,
        state,
        provider_trade_id: trade.trade_id,
        paid_at: trade.paid_at,
    })
}

fn json_reply(status: u16, body: &str) -> Reply {
    Reply {
        status,
        headers: vec![("content-type".into(), "application/json".into())],
        body: body.as_bytes().to_vec(),
    }
}

fn fail_reply(status: u16, why: &str) -> Reply {
    let body = serde_json::json!({"code": "FAIL", "message": why}).to_string();
    json_reply(status, &body)
}

/// The misbehaviours of the test scenarios (see the crate doc).
fn run_scenario(subject: &str) {
    match subject {
        "scenario:trap" => panic!("scenario:trap asked the adapter to panic"),
        "scenario:spin" => {
            let mut n: u64 = 0;
            loop {
                n = std::hint::black_box(n.wrapping_add(1));
            }
        }
        "scenario:oom" => {
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                hoard.push(vec![1u8; 1 << 20]);
                std::hint::black_box(&hoard);
            }
        }
        "scenario:log" => {
            println!("scenario:log on stdout");
            eprintln!("scenario:log on stderr");
            paygate_sdk::log::info("scenario:log through the log import");
        }
        _ => {}
    }
}

paygate_sdk::export_adapter!(Mock);
