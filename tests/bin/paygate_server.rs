//! `paygate serve` as a separate process for the tests that SIGKILL and restart paygate:
//! configuration from the environment, prints `listening <addr>` once serving. A start-up
//! that fails ends it as `paygate serve` ends: the error on stderr, exit code 1.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let config = match paygate::config::Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("paygate: configuration error: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    paygate::telemetry::init(&config.log, config.log_format);
    let running = match paygate::app::spawn(config).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("paygate: {e:#}");
            return std::process::ExitCode::FAILURE;
        }
    };
    if let Some(demo) = &running.demo {
        println!("demo {} {}", demo.id, demo.api_key);
    }
    println!("listening {}", running.addr);
    match running.wait().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("paygate: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
