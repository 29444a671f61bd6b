//! A worker that dies between claim and ack: claims one task, says so on stdout, and waits
//! to be killed. The conformance suite SIGKILLs it to prove the task comes back.
//!
//! `queue-claimer <sql|redis> <url> <prefix> <queue> <lease-ms>`

use std::time::Duration;

use paygate::queue::{DelayQueue, RedisQueue, SqlQueue};

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, backend, url, prefix, queue, lease_ms] = args.as_slice() else {
        eprintln!("usage: queue-claimer <sql|redis> <url> <prefix> <queue> <lease-ms>");
        std::process::exit(2);
    };
    let lease = Duration::from_millis(lease_ms.parse().expect("lease in ms"));
    let q = match backend.as_str() {
        "redis" => DelayQueue::Redis(RedisQueue::connect(url, prefix).await.expect("redis")),
        _ => DelayQueue::Sql(SqlQueue::new(
            paygate::store::connect(url).await.expect("database"),
        )),
    };
    loop {
        let claimed = q.claim(queue, 1, lease).await.expect("claim");
        if let Some(task) = claimed.first() {
            println!("claimed {}", task.key);
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Never acknowledges: the test kills this process here.
    loop {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
}
