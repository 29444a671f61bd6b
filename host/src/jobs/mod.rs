//! The delay queue's workers: one handler per queue, each a thin wrapper that decodes a
//! task, runs its use case in `service` and says when to come back. What is scheduled, and
//! when, is `service::timers`.

mod handlers;

pub use handlers::{DeadlineHandler, RefundHandler, SyncHandler, WebhookHandler};
