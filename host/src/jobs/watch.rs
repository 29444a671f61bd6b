//! The queue watch: every watch interval, one look whether the delay queue lost its keys
//! (and if so, open work put back at once); every reconcile interval, a reconciliation
//! whatever the look said. A recovery that failed (Redis still down) is owed and tried
//! again at the next tick, so a Redis that comes back empty is filled again within one
//! interval of its return.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::queue::Existing;
use crate::service::recovery::Watched;
use crate::service::Gateway;

/// The intervals of the watch.
#[derive(Debug, Clone, Copy)]
pub struct WatchIntervals {
    /// Between two looks at the queue's marks (`PAYGATE_QUEUE_WATCH_INTERVAL`).
    pub look: Duration,
    /// Between two reconciliations (`PAYGATE_RECONCILE_INTERVAL`).
    pub reconcile: Duration,
}

/// Runs the watch until `shutdown`.
pub async fn watch_queue(
    gateway: Arc<Gateway>,
    every: WatchIntervals,
    shutdown: CancellationToken,
) {
    let mut next_reconcile = Instant::now() + every.reconcile;
    let mut owed = false;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(every.look) => {}
        }
        let step = if owed || Instant::now() >= next_reconcile {
            next_reconcile = Instant::now() + every.reconcile;
            gateway
                .reconcile_timers(Existing::Keep)
                .await
                .map(|done| match done.put_back() {
                    0 => tracing::debug!(?done, "reconciliation: the queue holds all open work"),
                    n => tracing::warn!(
                        put_back = n,
                        ?done,
                        "reconciliation put back open work the delay queue did not hold"
                    ),
                })
        } else {
            gateway.watch_queue().await.map(|watched| {
                if let Watched::Recovered { reconciled, .. } = watched {
                    tracing::warn!(
                        put_back = reconciled.put_back(),
                        ?reconciled,
                        "open work put back on the delay queue"
                    );
                }
            })
        };
        owed = match step {
            Ok(()) => false,
            Err(e) => {
                tracing::error!(error = %e, "queue watch failed; trying again at the next look");
                true
            }
        };
    }
}
