//! paygate end to end: each test starts its own paygate (real HTTP, real SQLite or
//! PostgreSQL + Redis, the real adapter components, the built-in sandbox provider or the
//! WeChat Pay simulator of `simulators/wechat`) and checks one rule.

/// Runs each named rule (an `async fn(Setting)`) as two tests: `embedded::<rule>` (SQLite +
/// SQL queue) and `production::<rule>` (PostgreSQL + Redis).
macro_rules! in_both_settings {
    ($($rule:ident),* $(,)?) => {
        mod embedded { use super::*; $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $rule() { super::$rule(Setting::Embedded).await } )* }
        mod production { use super::*; $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $rule() { super::$rule(Setting::Production).await } )* }
    };
}

mod adapters;
mod admin;
mod alipay;
mod api_document;
mod api_keys;
mod cli_output;
mod conformance;
mod console;
mod contracts;
mod destinations;
mod flags;
mod hot_swap;
mod jobs;
mod key_rotation;
mod limits;
mod lists;
mod merchants;
mod misconfiguration;
mod operators;
mod orders;
mod payments;
mod process;
mod provider_check;
mod python_adapter;
mod queue;
mod refunds;
mod repay;
mod restart;
mod runtime_limits;
mod schema;
mod startup;
mod webhooks;
mod wechat;
