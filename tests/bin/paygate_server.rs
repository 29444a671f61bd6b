//! `paygate serve` as a separate process for the tests that SIGKILL and restart paygate:
//! configuration from the environment, prints `listening <addr>` once serving.

#[tokio::main]
async fn main() {
    let config = paygate::config::Config::from_env().expect("configuration");
    paygate::telemetry::init(&config.log);
    let running = paygate::app::spawn(config).await.expect("paygate starts");
    if let Some(demo) = &running.demo {
        println!("demo {} {}", demo.id, demo.api_key);
    }
    println!("listening {}", running.addr);
    running.wait().await.expect("serves");
}
