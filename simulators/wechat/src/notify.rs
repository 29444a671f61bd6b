//! Notifications from the simulated WeChat Pay: the envelope with its encrypted resource,
//! the signed request, WeChat's retry schedule until a 200/204 reply, and the faults a test
//! can ask for (a wrong signature, a stale timestamp, an undecryptable resource, a
//! signature probe, another key's serial).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use serde::Deserialize;
use serde_json::{json, Value};

use super::protocol::{self, AUTH_SCHEME};
use super::trades::{Delivery, Refund, RefundStatus, Trade};
use super::v3::{transaction_json, USER_RECEIVED_ACCOUNT};
use super::verification::{self, Signer};
use super::{now, now_ms, Sim};

/// What is wrong with a notification on purpose.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    #[default]
    None,
    /// Signed with a key that is not the platform's (the serial names the platform key).
    BadSignature,
    /// Correctly signed over a timestamp ten minutes old.
    StaleTimestamp,
    /// The resource is encrypted with another key (the envelope is correctly signed).
    Undecryptable,
    /// A WeChat signature probe: `WECHATPAY/SIGNTEST/...`.
    Signtest,
    /// `Wechatpay-Serial` names another platform key (of the same kind as the signer's).
    WrongSerial,
}

/// One notification: the same envelope on every retry.
pub struct Note {
    pub event_type: String,
    pub body: Vec<u8>,
}

impl Note {
    /// The envelope of `plaintext` (a transaction or a refund), its resource encrypted with
    /// the APIv3 key, or with another key if `undecryptable`.
    pub fn new(
        sim: &Sim,
        event_type: &str,
        original_type: &str,
        plaintext: &Value,
        undecryptable: bool,
    ) -> Note {
        let nonce = protocol::random_alnum(12);
        let key = if undecryptable {
            [7u8; 32]
        } else {
            sim.apiv3_key
        };
        let plaintext = serde_json::to_vec(plaintext).unwrap_or_default();
        let ciphertext =
            protocol::encrypt_resource(&key, &nonce, original_type, &plaintext).unwrap_or_default();
        let summary = match event_type {
            "REFUND.SUCCESS" => "退款成功",
            "REFUND.CLOSED" => "退款关闭",
            "REFUND.ABNORMAL" => "退款异常",
            _ => "支付成功",
        };
        let envelope = json!({
            "id": uuid::Uuid::new_v4().to_string(),
            "create_time": protocol::beijing_time(now()),
            "resource_type": "encrypt-resource",
            "event_type": event_type,
            "summary": summary,
            "resource": {"original_type": original_type, "algorithm": "AEAD_AES_256_GCM",
                         "ciphertext": ciphertext, "associated_data": original_type, "nonce": nonce},
        });
        Note {
            event_type: event_type.to_owned(),
            body: serde_json::to_vec(&envelope).unwrap_or_default(),
        }
    }
}

/// The key that signs the next notification attempt (the verification mode, and in the
/// migration mode the `notification_signer` knob).
fn next_signer(sim: &Sim) -> Signer {
    let knob = sim.state().knobs.notification_signer;
    let attempt = sim.notification_attempts.fetch_add(1, Ordering::Relaxed);
    verification::notification_signer(sim.config.verification, knob, attempt)
}

/// Sends `note` once to `url`, signed (with `fault`) by the key whose turn it is, records
/// the attempt on the trade, and returns the reply's status (`None`: no answer) and body.
pub async fn deliver(
    sim: &Sim,
    trade_no: &str,
    url: &str,
    note: &Note,
    fault: Fault,
) -> (Option<u16>, String) {
    let now = now();
    let timestamp = if fault == Fault::StaleTimestamp {
        now - 600
    } else {
        now
    }
    .to_string();
    let nonce = protocol::random_alnum(32);
    let message = protocol::response_message(&timestamp, &nonce, &note.body);
    let signer = next_signer(sim);
    let (key, serial) = sim.keys.key(signer);
    let signature = match fault {
        Fault::BadSignature => protocol::sign(&sim.wrong, &message),
        Fault::Signtest => format!(
            "WECHATPAY/SIGNTEST/{}",
            BASE64.encode(protocol::random_alnum(64))
        ),
        _ => protocol::sign(key, &message),
    };
    let serial = if fault == Fault::WrongSerial {
        verification::foreign_serial(signer)
    } else {
        serial
    };
    let reply = sim
        .http
        .post(url)
        .header("content-type", "application/json")
        .header("wechatpay-timestamp", &timestamp)
        .header("wechatpay-nonce", &nonce)
        .header("wechatpay-signature", signature)
        .header("wechatpay-serial", serial)
        .header("wechatpay-signature-type", AUTH_SCHEME)
        .body(note.body.clone())
        .send()
        .await;
    let (status, body) = match reply {
        Ok(r) => {
            let status = r.status().as_u16();
            (Some(status), r.text().await.unwrap_or_default())
        }
        Err(e) => (None, e.to_string()),
    };
    tracing::info!(
        "wechat simulator: {} of {trade_no} to {url} -> {status:?}",
        note.event_type
    );
    record(sim, trade_no, &note.event_type, status, &body, false);
    (status, body)
}

fn record(
    sim: &Sim,
    trade_no: &str,
    event_type: &str,
    status: Option<u16>,
    body: &str,
    dropped: bool,
) {
    let mut state = sim.state();
    if dropped {
        state.stats.notifications_dropped += 1;
    } else {
        state.stats.notifications_sent += 1;
        if matches!(status, Some(200 | 204)) {
            state.stats.notifications_acknowledged += 1;
        }
    }
    if let Some(trade) = state.trades.get_mut(trade_no) {
        trade.notifications.push(Delivery {
            at_ms: now_ms(),
            event_type: event_type.to_owned(),
            status,
            body: body.to_owned(),
            dropped,
        });
    }
}

/// Sends `note` until a 200/204 reply, on WeChat's retry schedule; or records it dropped if
/// the knob says so.
fn send_with_retries(sim: &Arc<Sim>, trade_no: &str, url: String, note: Note) {
    if sim.state().knobs.drop_notifications {
        record(sim, trade_no, &note.event_type, None, "", true);
        return;
    }
    let task_sim = sim.clone();
    let trade_no = trade_no.to_owned();
    sim.spawn(async move {
        let scale = task_sim.config.time_scale;
        for attempt in 0.. {
            let (status, _) = deliver(&task_sim, &trade_no, &url, &note, Fault::None).await;
            if matches!(status, Some(200 | 204)) {
                return;
            }
            match protocol::retry_delay(attempt, scale) {
                Some(delay) => tokio::time::sleep(delay).await,
                None => return,
            }
        }
    });
}

/// A trade was paid: TRANSACTION.SUCCESS to its notify_url.
pub fn trade_paid(sim: &Arc<Sim>, trade: &Trade) {
    let note = Note::new(
        sim,
        "TRANSACTION.SUCCESS",
        "transaction",
        &transaction_json(sim, trade),
        false,
    );
    send_with_retries(sim, &trade.out_trade_no, trade.notify_url.clone(), note);
}

/// A refund settled: REFUND.SUCCESS (REFUND.CLOSED, REFUND.ABNORMAL) to its notify_url, if
/// it gave one.
pub fn refund_settled(sim: &Arc<Sim>, refund: &Refund) {
    let Some(url) = refund.notify_url.clone() else {
        return;
    };
    let resource = json!({
        "mchid": sim.config.mchid, "out_trade_no": refund.out_trade_no, "transaction_id": refund.transaction_id,
        "out_refund_no": refund.out_refund_no, "refund_id": refund.refund_id, "refund_status": refund.status,
        "success_time": refund.success_time, "user_received_account": USER_RECEIVED_ACCOUNT,
        "amount": {"total": refund.total, "refund": refund.refund, "payer_total": refund.total, "payer_refund": refund.refund},
    });
    let event_type = refund.status.event_type();
    debug_assert_ne!(refund.status, RefundStatus::Processing);
    let note = Note::new(sim, event_type, "refund", &resource, false);
    send_with_retries(sim, &refund.out_trade_no, url, note);
}

#[cfg(test)]
mod tests {
    use super::Fault;

    #[test]
    fn faults_are_named_as_the_control_endpoint_spells_them() {
        let names = [
            ("none", Fault::None),
            ("bad_signature", Fault::BadSignature),
            ("stale_timestamp", Fault::StaleTimestamp),
            ("undecryptable", Fault::Undecryptable),
            ("signtest", Fault::Signtest),
            ("wrong_serial", Fault::WrongSerial),
        ];
        for (name, fault) in names {
            let parsed: Fault = serde_json::from_value(serde_json::json!(name)).expect(name);
            assert_eq!(parsed, fault);
        }
        assert!(serde_json::from_value::<Fault>(serde_json::json!("bad-signature")).is_err());
    }
}
