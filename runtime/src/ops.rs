//! The contract's operations as values: each knows its name (the `op` label of the call
//! metrics) and how it runs on an instance of either contract version, so that
//! `Runtime::call` is the one place an instance is made, timed out and finished.

use std::future::Future;
use std::pin::Pin;

use wasmtime::Store;

use super::call::CallState;
use super::contract::{
    AdapterInfo, BillError, BillRow, Config, Notification, PayRequest, PayResponse, ProviderError,
    RefundRequest, RefundStatus, Refusal, TradeStatus,
};
use super::outcome::Answer;
use super::{v1, Instance, Limits};

/// What an operation's run returns: the adapter's answer, or wasmtime's error (a trap, a
/// limit).
pub(crate) type Run<'a, T> = Pin<Box<dyn Future<Output = wasmtime::Result<T>> + Send + 'a>>;

/// One operation of the contract.
pub(crate) trait Operation: Send + Sync {
    type Answer: Answer + serde::Serialize + Send;

    /// The `op` label: `pay`, `query`, `test`, ...
    fn name(&self) -> &'static str;

    /// Runs on `instance`, through the bindings of the contract it exports.
    fn invoke<'a>(
        &'a self,
        instance: &'a Instance,
        store: &'a mut Store<CallState>,
    ) -> Run<'a, Self::Answer>;

    /// The limits it runs under, from the runtime's.
    fn limits(&self, base: &Limits) -> Limits {
        *base
    }

    /// The largest answer it may return, in bytes of JSON.
    fn answer_cap(&self) -> usize {
        Limits::MAX_ANSWER_BYTES
    }

    /// Whether it runs through the `bills` export rather than the contract.
    fn bills(&self) -> bool {
        false
    }
}

/// What an operation of the contract meets on an instance made for `bills`: never, as
/// `Runtime::call` instantiates through the contract unless [`Operation::bills`].
fn bills_instance(op: &str) -> wasmtime::Error {
    wasmtime::Error::msg(format!("`{op}` called on an instance made for bills"))
}

pub(crate) struct Info;

impl Operation for Info {
    type Answer = AdapterInfo;

    fn name(&self) -> &'static str {
        "info"
    }

    fn invoke<'a>(
        &'a self,
        instance: &'a Instance,
        store: &'a mut Store<CallState>,
    ) -> Run<'a, AdapterInfo> {
        Box::pin(async move {
            match instance {
                Instance::V2(b) => b.paygate_provider_provider().call_info(store).await,
                Instance::V1(b) => v1::info(b, store).await,
                Instance::Bills(_) => Err(bills_instance(self.name())),
            }
        })
    }
}

pub(crate) struct Pay<'r> {
    pub config: &'r Config,
    pub req: &'r PayRequest,
}

impl Operation for Pay<'_> {
    type Answer = Result<PayResponse, ProviderError>;

    fn name(&self) -> &'static str {
        "pay"
    }

    fn invoke<'a>(
        &'a self,
        instance: &'a Instance,
        store: &'a mut Store<CallState>,
    ) -> Run<'a, Self::Answer> {
        Box::pin(async move {
            match instance {
                Instance::V2(b) => {
                    b.paygate_provider_provider()
                        .call_pay(store, self.config, self.req)
                        .await
                }
                Instance::V1(b) => v1::pay(b, store, self.config, self.req).await,
                Instance::Bills(_) => Err(bills_instance(self.name())),
            }
        })
    }
}

/// A trade's status, labelled `query`, or `test` for a configuration's test.
pub(crate) struct Query<'r> {
    pub label: &'static str,
    pub config: &'r Config,
    pub payment_no: &'r str,
}

impl Operation for Query<'_> {
    type Answer = Result<TradeStatus, ProviderError>;

    fn name(&self) -> &'static str {
        self.label
    }

    fn invoke<'a>(
        &'a self,
        instance: &'a Instance,
        store: &'a mut Store<CallState>,
    ) -> Run<'a, Self::Answer> {
        Box::pin(async move {
            match instance {
                Instance::V2(b) => {
                    b.paygate_provider_provider()
                        .call_query(store, self.config, self.payment_no)
                        .await
                }
                Instance::V1(b) => v1::query(b, store, self.config, self.payment_no).await,
                Instance::Bills(_) => Err(bills_instance(self.name())),
            }
        })
    }
}

pub(crate) struct Close<'r> {
    pub config: &'r Config,
    pub payment_no: &'r str,
}

impl Operation for Close<'_> {
    type Answer = Result<(), ProviderError>;

    fn name(&self) -> &'static str {
        "close"
    }

    fn invoke<'a>(
        &'a self,
        instance: &'a Instance,
        store: &'a mut Store<CallState>,
    ) -> Run<'a, Self::Answer> {
        Box::pin(async move {
            match instance {
                Instance::V2(b) => {
                    b.paygate_provider_provider()
                        .call_close(store, self.config, self.payment_no)
                        .await
                }
                Instance::V1(b) => v1::close(b, store, self.config, self.payment_no).await,
                Instance::Bills(_) => Err(bills_instance(self.name())),
            }
        })
    }
}

pub(crate) struct Refund<'r> {
    pub config: &'r Config,
    pub req: &'r RefundRequest,
}

impl Operation for Refund<'_> {
    type Answer = Result<RefundStatus, ProviderError>;

    fn name(&self) -> &'static str {
        "refund"
    }

    fn invoke<'a>(
        &'a self,
        instance: &'a Instance,
        store: &'a mut Store<CallState>,
    ) -> Run<'a, Self::Answer> {
        Box::pin(async move {
            match instance {
                Instance::V2(b) => {
                    b.paygate_provider_provider()
                        .call_refund(store, self.config, self.req)
                        .await
                }
                Instance::V1(b) => v1::refund(b, store, self.config, self.req).await,
                Instance::Bills(_) => Err(bills_instance(self.name())),
            }
        })
    }
}

pub(crate) struct QueryRefund<'r> {
    pub config: &'r Config,
    pub payment_no: &'r str,
    pub refund_no: &'r str,
}

impl Operation for QueryRefund<'_> {
    type Answer = Result<RefundStatus, ProviderError>;

    fn name(&self) -> &'static str {
        "query-refund"
    }

    fn invoke<'a>(
        &'a self,
        instance: &'a Instance,
        store: &'a mut Store<CallState>,
    ) -> Run<'a, Self::Answer> {
        Box::pin(async move {
            match instance {
                Instance::V2(b) => {
                    b.paygate_provider_provider()
                        .call_query_refund(store, self.config, self.payment_no, self.refund_no)
                        .await
                }
                // 1.0.0 has no query-refund: the caller submits the refund again instead.
                Instance::V1(_) => Ok(Err(ProviderError::Unsupported(
                    "contract 1.0.0 has no query-refund".into(),
                ))),
                Instance::Bills(_) => Err(bills_instance(self.name())),
            }
        })
    }
}

pub(crate) struct ParseNotification<'r> {
    pub config: &'r Config,
    pub headers: &'r Vec<(String, String)>,
    pub body: &'r Vec<u8>,
}

impl Operation for ParseNotification<'_> {
    type Answer = Result<Notification, Refusal>;

    fn name(&self) -> &'static str {
        "parse-notification"
    }

    fn invoke<'a>(
        &'a self,
        instance: &'a Instance,
        store: &'a mut Store<CallState>,
    ) -> Run<'a, Self::Answer> {
        Box::pin(async move {
            match instance {
                Instance::V2(b) => {
                    b.paygate_provider_provider()
                        .call_parse_notification(store, self.config, self.headers, self.body)
                        .await
                }
                Instance::V1(b) => {
                    v1::parse_notification(b, store, self.config, self.headers, self.body).await
                }
                Instance::Bills(_) => Err(bills_instance(self.name())),
            }
        })
    }
}

/// The provider's bill for one day, through the `bills` export.
pub(crate) struct FetchBill<'r> {
    pub config: &'r Config,
    pub day: &'r str,
}

impl FetchBill<'_> {
    /// A day's bill is one large download (WeChat Pay's gzip, Alipay's zip) and every row
    /// of it handed over: 16 MiB of answer holds about 50,000 rows as JSON.
    pub const ANSWER_CAP_BYTES: usize = 16 << 20;
    /// The downloaded file's cap, compressed.
    pub const DOWNLOAD_CAP_BYTES: usize = 16 << 20;
    /// Downloading and parsing take longer than a payment call; the CPU budget is per call.
    /// Under the delay queue's default 90 s lease, with the daily task's budget.
    pub const WALL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);
    pub const CPU_BUDGET: std::time::Duration = std::time::Duration::from_secs(20);
}

impl Operation for FetchBill<'_> {
    type Answer = Result<Vec<BillRow>, BillError>;

    fn name(&self) -> &'static str {
        "fetch-bill"
    }

    fn limits(&self, base: &Limits) -> Limits {
        let mut limits = *base;
        limits.wall_timeout = limits.wall_timeout.max(Self::WALL_TIMEOUT);
        limits.cpu_budget = limits.cpu_budget.max(Self::CPU_BUDGET);
        limits.memory_bytes = limits.memory_bytes.max(256 << 20);
        limits.http.max_response_bytes =
            limits.http.max_response_bytes.max(Self::DOWNLOAD_CAP_BYTES);
        limits.http.timeout = limits.http.timeout.max(std::time::Duration::from_secs(50));
        limits
    }

    fn answer_cap(&self) -> usize {
        Self::ANSWER_CAP_BYTES
    }

    fn bills(&self) -> bool {
        true
    }

    fn invoke<'a>(
        &'a self,
        instance: &'a Instance,
        store: &'a mut Store<CallState>,
    ) -> Run<'a, Self::Answer> {
        Box::pin(async move {
            match instance {
                Instance::Bills(b) => {
                    b.paygate_bills_bills()
                        .call_fetch_bill(store, self.config, self.day)
                        .await
                }
                Instance::V1(_) | Instance::V2(_) => Err(wasmtime::Error::msg(
                    "`fetch-bill` called on an instance made for the contract",
                )),
            }
        })
    }
}
