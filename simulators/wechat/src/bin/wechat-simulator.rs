//! `wechat-simulator`: the WeChat Pay API v3 simulator as a program, for trying paygate's
//! WeChat Pay adapter by hand. Uses the test keys of `simulators/wechat/fixtures`; prints what to configure in paygate, logs every request and
//! notification, and runs until Ctrl-C.

use clap::Parser;

use wechat_simulator::{SimConfig, WechatSimulator};

#[derive(Parser)]
#[command(about = "WeChat Pay API v3 simulator (test keys only)")]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9090")]
    listen: String,
    /// Divides WeChat's notification retry delays (15 s, 15 s, 30 s, 3 min...).
    #[arg(long, default_value_t = 1.0)]
    time_scale: f64,
    /// The merchant number (商户号) the simulator serves [default: 1900009191].
    #[arg(long)]
    mchid: Option<String>,
    /// The AppID bound to the merchant [default: wxd678efh567hg6787].
    #[arg(long)]
    appid: Option<String>,
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
    if let Some(mchid) = args.mchid {
        config.mchid = mchid;
    }
    if let Some(appid) = args.appid {
        config.appid = appid;
    }
    let shown = config.clone();
    let sim = WechatSimulator::spawn(config, &args.listen).await?;
    let url = sim.base_url();
    let keys = SimConfig::fixture_dir();
    let key = |name: &str| keys.join(name).display().to_string();
    println!("WeChat Pay simulator on {url} (trades, with a Pay button: {url}/)");
    println!();
    println!("Configure paygate's wechat provider for a merchant:");
    println!();
    println!("  paygate providers configure <merchant id> wechat \\");
    println!("    --set api_base={url} \\");
    println!(
        "    --set mchid={} --set appid={} \\",
        shown.mchid, shown.appid
    );
    println!(
        "    --set merchant_serial_no={} \\",
        shown.merchant_serial_no
    );
    println!(
        "    --set platform_public_key_id={} \\",
        shown.platform_public_key_id
    );
    println!(
        "    --secret-file merchant_private_key={} \\",
        key("merchant_private_key.pem")
    );
    println!(
        "    --secret-file platform_public_key={} \\",
        key("platform_public_key.pem")
    );
    println!("    --secret-file apiv3_key={}", key("apiv3_key.txt"));
    println!();
    println!(
        "Knobs: curl -X PUT {url}/sim/knobs -d '{{\"drop_notifications\": true}}' \
         (also delay_ms, fail_next, wrong_response_signature, refund_processing_ms)"
    );
    println!("Ctrl-C stops it.");
    tokio::signal::ctrl_c().await?;
    drop(sim);
    Ok(())
}
