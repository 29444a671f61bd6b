//! The sandbox provider as the conformance check's simulator: the one paygate serves under
//! `/sandbox` (`plugins/mock/PROTOCOL.md`), with its unsigned tools for paying a trade and
//! counting its notifications.

use std::future::Future;

use serde_json::{json, Value};

use super::Simulator;

/// Speaks the sandbox protocol: adapters with the settings `sandbox_url` (base URL) and
/// `account_id` and the secret `api_key`, as the bundled mock has.
#[derive(Debug, Default, Clone, Copy)]
pub struct SandboxSimulator;

impl Simulator for SandboxSimulator {
    fn describe(&self) -> String {
        "the sandbox provider (plugins/mock/PROTOCOL.md), served by the throwaway paygate".into()
    }

    fn open_account(&self, paygate: &str) -> impl Future<Output = Result<Value, String>> + Send {
        let paygate = paygate.to_owned();
        async move {
            let account: Value = reqwest::Client::new()
                .post(format!("{paygate}/sandbox/accounts"))
                .send()
                .await
                .map_err(|e| format!("opening a sandbox account: {e}"))?
                .json()
                .await
                .map_err(|e| format!("opening a sandbox account: {e}"))?;
            Ok(json!({
                "settings": {"sandbox_url": format!("{paygate}/sandbox"), "account_id": account["account_id"]},
                "secrets": {"api_key": account["api_key"]},
            }))
        }
    }

    async fn payer_opens(&self, _payment_no: &str) -> Result<(), String> {
        // The sandbox's trade exists from the pay call on.
        Ok(())
    }

    fn pay(
        &self,
        paygate: &str,
        payment_no: &str,
        notify: bool,
    ) -> impl Future<Output = Result<(), String>> + Send {
        let url = format!("{paygate}/sandbox/trades/{payment_no}/pay?notify={notify}");
        async move {
            let r = reqwest::Client::new()
                .post(&url)
                .send()
                .await
                .map_err(|e| format!("paying at the sandbox: {e}"))?;
            if !r.status().is_success() {
                let status = r.status();
                let body = r.text().await.unwrap_or_default();
                return Err(format!(
                    "the sandbox refused to pay the trade: {status} {body}"
                ));
            }
            Ok(())
        }
    }

    fn acknowledged(
        &self,
        paygate: &str,
        payment_no: &str,
    ) -> impl Future<Output = Result<u64, String>> + Send {
        let url = format!("{paygate}/sandbox/trades/{payment_no}");
        async move {
            let trade: Value = reqwest::Client::new()
                .get(&url)
                .send()
                .await
                .map_err(|e| e.to_string())?
                .json()
                .await
                .map_err(|e| e.to_string())?;
            trade["notifications"]["acknowledged"]
                .as_u64()
                .ok_or_else(|| format!("the sandbox's trade has no notification counters: {trade}"))
        }
    }

    fn forge_paid_notification(
        &self,
        notify_url: &str,
        account: &Value,
        payment_no: &str,
        amount: i64,
    ) -> impl Future<Output = Result<(bool, String), String>> + Send {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let body = json!({
            "event": "trade.paid", "payment_no": payment_no, "trade_id": "sbxforged",
            "state": "paid", "amount": amount, "currency": "CNY", "paid_amount": amount,
            "paid_at": now,
        });
        let account_id = account["settings"]["account_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let request = reqwest::Client::new()
            .post(notify_url)
            .header("content-type", "application/json")
            .header("x-sandbox-account", account_id)
            .header("x-sandbox-timestamp", now.to_string())
            .header("x-sandbox-nonce", hex::encode(rand::random::<[u8; 8]>()))
            // 32 random bytes: a signature made without the account's key.
            .header(
                "x-sandbox-signature",
                hex::encode(rand::random::<[u8; 32]>()),
            )
            .body(body.to_string());
        async move {
            let r = request.send().await.map_err(|e| e.to_string())?;
            let status = r.status();
            let answer: Value = r.json().await.unwrap_or(Value::Null);
            // PROTOCOL.md: the receiver acknowledges with 200 {"code": "SUCCESS"}.
            let acknowledged = status.is_success() && answer["code"] == "SUCCESS";
            Ok((acknowledged, format!("{status} {answer}")))
        }
    }
}
