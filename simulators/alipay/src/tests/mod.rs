//! The simulator against its own protocol, over real HTTP (`cargo test -p alipay-simulator`):
//! `support.rs` is the app side (a client that signs requests with the fixture app key and
//! checks every answer's signature over its raw `*_response` text, and a notification
//! receiver), `gateway.rs` the gateway's checks, answers and knobs, `trades.rs` the trade
//! rules, `refunds.rs` refunds and their query, `notifications.rs` the notifications,
//! `certificate.rs` the public-key-certificate mode, `cashier.rs` page.pay and wap.pay.

mod bills;
mod cashier;
mod certificate;
mod gateway;
mod notifications;
mod refunds;
mod support;
mod trades;
