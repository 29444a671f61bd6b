//! The simulator against its own protocol, over real HTTP (`cargo test -p
//! wechat-simulator`): `support.rs` is the merchant side (a request signer with the fixture merchant
//! key that checks every signed answer's signature, and a notification receiver), `api.rs`
//! the `/v3` endpoints, `actions.rs` what pay calls hand out and paying through it,
//! `refunds.rs` refunds and their query, `verification.rs` who signs (unsigned refusals,
//! public key, certificate, migration), `notifications.rs` the notifications.

mod actions;
mod api;
mod bills;
mod notifications;
mod refunds;
mod support;
mod verification;
