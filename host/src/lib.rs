//! paygate: a payment gateway hub.
//!
//! Merchant back ends create orders and collect payment through paygate; each payment
//! provider is an adapter compiled to a sandboxed WebAssembly component behind the WIT
//! contract in `wit/`. This crate is the host: the REST API (`api`), the domain rules
//! (`domain`, pure functions), storage (`store`), the wasm runtime (`runtime`), the use
//! cases that tie them together (`service`), configuration (`config`), secrets at rest
//! (`vault`) and start-up (`app`, with its checks of the database, the master key and
//! Redis in `startup`). With the default `sandbox` feature, start-up also serves
//! the sandbox provider (`simulators/sandbox`) under `/sandbox`, and `conformance` checks
//! an adapter component against it.

pub mod adapters;
pub mod api;
pub mod app;
pub mod clock;
pub mod config;
pub mod conformance;
pub mod domain;
pub mod jobs;
pub mod queue;
pub mod server;
pub mod service;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod vault;

/// The wasm runtime (its own crate, `paygate-runtime`: wasmtime stays behind it).
pub use paygate_runtime as runtime;
