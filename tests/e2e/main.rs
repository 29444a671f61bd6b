//! paygate end to end: each test starts its own paygate (real HTTP, real SQLite, the real
//! mock adapter component, the built-in sandbox provider) and checks one rule.

mod admin;
mod jobs;
mod orders;
mod payments;
mod queue;
mod refunds;
mod repay;
mod restart;
mod runtime_limits;
mod webhooks;
