//! `wechat-simulator`: the WeChat Pay API v3 simulator as a program, for trying paygate's
//! WeChat Pay adapter by hand. Uses the test keys of `tests/fixtures/wechat`.

use clap::Parser;

use paygate_e2e::wechat::{SimConfig, WechatSimulator};

#[derive(Parser)]
#[command(about = "WeChat Pay API v3 simulator (test keys only)")]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9090")]
    listen: String,
    /// Divides WeChat's notification retry delays (15 s, 15 s, 30 s, 3 min...).
    #[arg(long, default_value_t = 1.0)]
    time_scale: f64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut config = SimConfig::with_fixture_keys();
    config.time_scale = args.time_scale;
    let shown = config.clone();
    let sim = WechatSimulator::spawn(config, &args.listen).await?;
    let keys = SimConfig::fixture_dir();
    println!(
        "WeChat Pay simulator on {} (trades: {}/)",
        sim.base_url(),
        sim.base_url()
    );
    println!();
    println!("Configure paygate's wechat provider for a merchant with:");
    println!("  --set api_base={}", sim.base_url());
    println!("  --set mchid={}", shown.mchid);
    println!("  --set appid={}", shown.appid);
    println!("  --set merchant_serial_no={}", shown.merchant_serial_no);
    println!(
        "  --set platform_public_key_id={}",
        shown.platform_public_key_id
    );
    println!(
        "  --secret-file merchant_private_key={}",
        keys.join("merchant_private_key.pem").display()
    );
    println!(
        "  --secret-file platform_public_key={}",
        keys.join("platform_public_key.pem").display()
    );
    println!(
        "  --secret-file apiv3_key={}",
        keys.join("apiv3_key.txt").display()
    );
    println!();
    println!("Knobs: curl -X PUT {}/sim/knobs -d '{{\"drop_notifications\": true}}' (also delay_ms, fail_next, wrong_response_signature, refund_processing_ms)", sim.base_url());
    tokio::signal::ctrl_c().await?;
    Ok(())
}
