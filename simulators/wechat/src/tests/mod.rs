//! The simulator against its own protocol, over real HTTP (`cargo test -p
//! wechat-simulator`): `support.rs` is the merchant side (a request signer with the fixture merchant
//! key that checks every answer's signature, and a notification receiver), `api.rs` the
//! `/v3` endpoints, `notifications.rs` the notifications.

mod api;
mod notifications;
mod support;
