//! The delay queue's workers: one handler per queue, each a thin wrapper that decodes a
//! task, runs its use case in `service` and says when to come back. What is scheduled, and
//! when, is `service::timers`; the watch that keeps the queue whole is `watch`.

mod handlers;
mod watch;

pub use handlers::{BillsHandler, DeadlineHandler, RefundHandler, SyncHandler, WebhookHandler};
pub use watch::{watch_queue, WatchIntervals};
