//! The record of adapter calls about trades (`store::provider_calls`): each pay, query,
//! close, refund and refund query paygate makes for a payment, with its outcome, what the
//! provider or the runtime said, and how long it took. An operator reads them in the
//! payment's story; the console's overview counts the failed ones.
//!
//! Recording is off the request path: a call's row goes to a bounded channel, and one task
//! writes what has gathered within [`LINGER`] in one statement (under load, one commit for
//! dozens of calls instead of one each). When the channel is full (the database far
//! behind), the row is dropped and counted (`paygate_provider_calls_dropped_total`): the
//! record is for people, and must never slow or fail a payment.

use std::future::Future;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use crate::runtime::contract::ProviderError;
use crate::runtime::{CallError, CallOutcome};
use crate::store::provider_calls::{self, ProviderCall, MAX_BATCH};
use crate::store::Db;

use super::trade::describe;
use super::Gateway;

/// Rows waiting to be written at most; beyond, new ones are dropped.
const CAPACITY: usize = 10_000;

/// How long the recorder waits after a call's row for others to write with it: a person
/// reading a payment's story never notices it, and each write is one commit fewer.
const LINGER: Duration = Duration::from_millis(50);

/// The longest message kept, in characters.
const MAX_MESSAGE_CHARS: usize = 500;

/// Where call rows go: the recorder task's channel, or nowhere outside a tokio runtime
/// (a CLI command that makes no provider call).
pub struct CallLog {
    tx: Option<mpsc::Sender<Message>>,
}

/// What the recorder is sent: a row, or a request to write what it holds now and say so.
enum Message {
    Call(ProviderCall),
    Flush(oneshot::Sender<()>),
}

impl CallLog {
    /// Starts the recorder writing to `db`, when called inside a tokio runtime.
    pub fn start(db: Db) -> CallLog {
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return CallLog { tx: None };
        };
        let (tx, rx) = mpsc::channel(CAPACITY);
        handle.spawn(record(db, rx));
        CallLog { tx: Some(tx) }
    }

    fn push(&self, call: ProviderCall) {
        if let Some(tx) = &self.tx {
            if tx.try_send(Message::Call(call)).is_err() {
                metrics::counter!("paygate_provider_calls_dropped_total").increment(1);
            }
        }
    }

    /// Returns once every row pushed before it is written (or failed to be), without
    /// waiting out [`LINGER`]: at shutdown, so that the last calls' rows are kept.
    pub async fn flush(&self) {
        let Some(tx) = &self.tx else {
            return;
        };
        let (done, written) = oneshot::channel();
        if tx.send(Message::Flush(done)).await.is_ok() {
            // An error: the recorder is gone, and with it anything left to write.
            let _ = written.await;
        }
    }
}

/// Writes the rows as they come: those that gather within [`LINGER`] of the first (at
/// most [`MAX_BATCH`]) in one statement; a flush writes at once what has gathered.
async fn record(db: Db, mut rx: mpsc::Receiver<Message>) {
    while let Some(first) = rx.recv().await {
        let mut batch = Vec::new();
        let mut flushed = None;
        match first {
            Message::Call(call) => batch.push(call),
            Message::Flush(done) => flushed = Some(done),
        }
        let until = tokio::time::Instant::now() + LINGER;
        while flushed.is_none() && batch.len() < MAX_BATCH {
            match tokio::time::timeout_at(until, rx.recv()).await {
                Ok(Some(Message::Call(call))) => batch.push(call),
                Ok(Some(Message::Flush(done))) => flushed = Some(done),
                // The window closed, or every sender is gone: write what there is.
                Ok(None) | Err(_) => break,
            }
        }
        if !batch.is_empty() {
            if let Err(e) = provider_calls::insert_many(&db, &batch).await {
                tracing::warn!(rows = batch.len(), error = %e, "could not record provider calls");
            }
        }
        if let Some(done) = flushed {
            // The flush's caller may have stopped waiting; nothing to tell then.
            let _ = done.send(());
        }
    }
}

/// Which trade a call is about.
pub(super) struct About<'a> {
    pub merchant_id: &'a str,
    pub provider: &'a str,
    pub payment_no: &'a str,
    pub refund_no: Option<&'a str>,
}

impl<'a> About<'a> {
    /// The payment's own trade.
    pub fn payment(payment: &'a crate::store::payments::PaymentRecord) -> About<'a> {
        About {
            merchant_id: &payment.merchant_id,
            provider: &payment.provider,
            payment_no: &payment.payment_no,
            refund_no: None,
        }
    }
}

/// What a call's answer says for people: nothing when all went well.
fn said<T>(answer: &Result<Result<T, ProviderError>, CallError>) -> Option<String> {
    let text = match answer {
        Ok(Ok(_)) => return None,
        Ok(Err(e)) => describe(e),
        Err(e) => e.to_string(),
    };
    Some(text.chars().take(MAX_MESSAGE_CHARS).collect())
}

impl Gateway {
    /// Writes the provider-call rows the recorder holds now (see [`CallLog::flush`]).
    pub async fn flush_call_log(&self) {
        self.calls.flush().await;
    }

    /// Runs the adapter call `call` (operation `op`) about `about`, and records it.
    pub(super) async fn recorded<T>(
        &self,
        about: About<'_>,
        op: &'static str,
        call: impl Future<Output = Result<Result<T, ProviderError>, CallError>>,
    ) -> Result<Result<T, ProviderError>, CallError> {
        let started = Instant::now();
        let answer = call.await;
        self.calls.push(ProviderCall {
            id: uuid::Uuid::now_v7().to_string(),
            at: self.now_ms(),
            merchant_id: about.merchant_id.to_owned(),
            provider: about.provider.to_owned(),
            op: op.to_owned(),
            payment_no: Some(about.payment_no.to_owned()),
            refund_no: about.refund_no.map(str::to_owned),
            outcome: CallOutcome::of_call(&answer).as_str().to_owned(),
            message: said(&answer),
            elapsed_ms: i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX),
        });
        answer
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(id: &str) -> ProviderCall {
        ProviderCall {
            id: id.into(),
            at: 1,
            merchant_id: "m_1".into(),
            provider: "mock".into(),
            op: "query".into(),
            payment_no: Some("p1".into()),
            refund_no: None,
            outcome: "ok".into(),
            message: None,
            elapsed_ms: 3,
        }
    }

    #[tokio::test]
    async fn a_flush_returns_once_every_row_pushed_before_it_is_written() {
        let (_dir, db) = crate::store::temporary().await;
        let log = CallLog::start(db.clone());
        for i in 0..3 {
            log.push(call(&format!("c{i}")));
        }
        log.flush().await;
        let kept = provider_calls::of_payment(&db, "p1").await.expect("read");
        let ids: Vec<&str> = kept.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["c0", "c1", "c2"]);
        // Later rows gather again, and a flush with nothing held returns at once.
        log.push(call("c3"));
        log.flush().await;
        log.flush().await;
        assert_eq!(
            provider_calls::of_payment(&db, "p1")
                .await
                .expect("read")
                .len(),
            4
        );
    }

    #[test]
    fn a_call_that_went_well_says_nothing_and_a_refusal_says_why_within_the_cap() {
        let ok: Result<Result<(), ProviderError>, CallError> = Ok(Ok(()));
        assert_eq!(said(&ok), None);
        let refused: Result<Result<(), ProviderError>, CallError> =
            Ok(Err(ProviderError::Unreachable("x".repeat(2_000))));
        let text = said(&refused).expect("a refusal is described");
        assert!(text.starts_with("the provider could not be reached: x"));
        assert_eq!(text.chars().count(), MAX_MESSAGE_CHARS);
    }
}
