//! `alipay-simulator`: the Alipay OpenAPI gateway simulator as a program, for trying
//! paygate's Alipay adapter by hand. Uses the test keys and certificates of
//! `simulators/alipay/fixtures`; verifies with the app's public key or its public-key
//! certificate (`--key-mode`); prints what to configure in paygate, logs every request and
//! notification, and runs until Ctrl-C.

use std::time::Duration;

use clap::Parser;

use alipay_simulator::{
    AlipaySimulator, KeyMode, SimConfig, ALIPAY_CERT_FILE, ALIPAY_PUBLIC_KEY_FILE,
    ALIPAY_ROOT_CERT_FILE, APP_CERT_FILE, APP_PRIVATE_KEY_FILE,
};

#[derive(Parser)]
#[command(about = "Alipay OpenAPI gateway simulator (test keys only)")]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9092")]
    listen: String,
    /// Divides Alipay's notification retry delays (4 min, 10 min, 10 min, 1 h, 2 h, 6 h, 15 h).
    #[arg(long, default_value_t = 1.0)]
    time_scale: f64,
    /// How the app and Alipay verify each other: public-key (公钥模式) or certificate
    /// (公钥证书模式: app_cert_sn and alipay_root_cert_sn required, answers name alipay_cert_sn).
    #[arg(long, default_value_t = KeyMode::PublicKey)]
    key_mode: KeyMode,
    /// The app id the simulator serves.
    #[arg(long, default_value = alipay_simulator::APP_ID)]
    app_id: String,
    /// Divides the lifetime of a precreate qr_code (2 hours).
    #[arg(long, default_value_t = 1.0)]
    action_lifetime_scale: f64,
    /// Days after payment until a trade is TRADE_FINISHED by itself.
    #[arg(long, default_value_t = 90)]
    refund_period_days: u64,
    /// Log filter (`info` shows every request and notification).
    #[arg(long, default_value = "info")]
    log: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(&args.log))
        .with_writer(std::io::stderr)
        .init();
    let mut config = SimConfig::with_fixture_keys();
    config.time_scale = args.time_scale;
    config.key_mode = args.key_mode;
    config.app_id = args.app_id;
    config.action_lifetime_scale = args.action_lifetime_scale;
    config.refund_period = Duration::from_secs(args.refund_period_days.saturating_mul(86_400));
    let sim = AlipaySimulator::spawn(config, &args.listen).await?;
    let shown = sim.config();
    let url = sim.base_url();
    let file = |name: &str| SimConfig::fixture(name).display().to_string();
    println!("Alipay simulator on {url} (trades, with a Pay button: {url}/)");
    println!("Gateway: {}", sim.gateway_url());
    println!("Key mode: {}", shown.key_mode);
    if shown.key_mode == KeyMode::Certificate {
        println!(
            "  requests must carry app_cert_sn={} and alipay_root_cert_sn={}",
            alipay_simulator::APP_CERT_SN,
            alipay_simulator::ALIPAY_ROOT_CERT_SN
        );
        println!(
            "  answers carry alipay_cert_sn={}",
            alipay_simulator::ALIPAY_CERT_SN
        );
    }
    println!();
    println!("Configure paygate's alipay provider for a merchant:");
    println!();
    let mut lines = vec![
        format!("--set app_id={}", shown.app_id),
        format!("--set gateway={}", sim.gateway_url()),
        format!(
            "--secret-file app_private_key={}",
            file(APP_PRIVATE_KEY_FILE)
        ),
    ];
    match shown.key_mode {
        KeyMode::PublicKey => lines.push(format!(
            "--secret-file alipay_public_key={}",
            file(ALIPAY_PUBLIC_KEY_FILE)
        )),
        KeyMode::Certificate => {
            lines.push(format!("--secret-file app_cert={}", file(APP_CERT_FILE)));
            lines.push(format!(
                "--secret-file alipay_cert={}",
                file(ALIPAY_CERT_FILE)
            ));
            lines.push(format!(
                "--secret-file alipay_root_cert={}",
                file(ALIPAY_ROOT_CERT_FILE)
            ));
        }
    }
    println!("  paygate providers configure <merchant id> alipay \\");
    for (i, line) in lines.iter().enumerate() {
        let more = if i + 1 < lines.len() { " \\" } else { "" };
        println!("    {line}{more}");
    }
    println!();
    println!(
        "Buyer: curl -X POST {url}/sim/trades/<out_trade_no>/pay (or /scan, /finish, /notify)"
    );
    println!(
        "Knobs: curl -X PUT {url}/sim/knobs -d '{{\"drop_notifications\": true}}' \
         (also delay_ms, fail_next, fail_with, wrong_response_signature)"
    );
    println!("Ctrl-C stops it.");
    tokio::signal::ctrl_c().await?;
    drop(sim);
    Ok(())
}
