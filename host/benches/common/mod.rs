//! What the queue benchmarks share: a handler that records each task's lag, and the
//! summary of those lags.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use paygate::queue::{Claimed, Handler, Outcome};

/// Records each task's lag, from its due time to the start of its handler, and finishes it.
#[derive(Default)]
pub struct Recorder {
    done: AtomicUsize,
    lags_ms: Mutex<Vec<f64>>,
}

/// Lag percentiles, in ms.
#[derive(Debug, Clone, Copy)]
pub struct Lags {
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
}

impl Recorder {
    /// Returns once `count` tasks have run.
    pub async fn wait_for(&self, count: usize) {
        while self.done.load(Ordering::Relaxed) < count {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// p50, p99 and max of the lags recorded so far.
    pub fn lags(&self) -> Lags {
        let mut lags = self.lags_ms.lock().map(|l| l.clone()).unwrap_or_default();
        lags.sort_by(f64::total_cmp);
        let at = |p: f64| {
            lags.get(((lags.len() as f64 - 1.0) * p).round() as usize)
                .copied()
                .unwrap_or(f64::NAN)
        };
        Lags {
            p50: at(0.5),
            p99: at(0.99),
            max: lags.last().copied().unwrap_or(f64::NAN),
        }
    }
}

impl Handler for Recorder {
    fn handle<'a>(
        &'a self,
        task: &'a Claimed,
    ) -> Pin<Box<dyn Future<Output = Outcome> + Send + 'a>> {
        Box::pin(async move {
            let now = time::OffsetDateTime::now_utc().unix_timestamp_nanos() as f64 / 1e6;
            if let Ok(mut lags) = self.lags_ms.lock() {
                lags.push(now - task.due_ms as f64);
            }
            self.done.fetch_add(1, Ordering::Relaxed);
            Outcome::Done
        })
    }
}
