//! `wechat-simulator`: the WeChat Pay API v3 simulator as a program, for trying paygate's
//! WeChat Pay adapter by hand. Uses the test keys of `simulators/wechat/fixtures`; verifies
//! with the WeChat Pay public key, a platform certificate, or both (`--verification`);
//! prints what to configure in paygate, logs every request and notification, and runs until
//! Ctrl-C.

use clap::Parser;

use wechat_simulator::{SimConfig, Verification, WechatSimulator};

#[derive(Parser)]
#[command(about = "WeChat Pay API v3 simulator (test keys only)")]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9090")]
    listen: String,
    /// Divides WeChat's notification retry delays (15 s, 15 s, 30 s, 3 min...).
    #[arg(long, default_value_t = 1.0)]
    time_scale: f64,
    /// How merchants verify this WeChat: public-key (WeChat Pay public key, PUB_KEY_ID_...),
    /// certificate (platform certificate, GET /v3/certificates), or migration (both: answers
    /// signed with the public key when the request sends `Wechatpay-Serial: PUB_KEY_ID_...`).
    #[arg(long, default_value_t = Verification::PublicKey)]
    verification: Verification,
    /// Divides the lifetimes of code_url and prepay_id (2 hours) and h5_url (5 minutes).
    #[arg(long, default_value_t = 1.0)]
    action_lifetime_scale: f64,
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
    config.verification = args.verification;
    config.action_lifetime_scale = args.action_lifetime_scale;
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
    let mode = shown.verification;
    let certificate = SimConfig::platform_certificate_path().display().to_string();
    println!("WeChat Pay simulator on {url} (trades, with a Pay button: {url}/)");
    println!("Verification: {mode}");
    if mode.has_certificate() {
        println!(
            "  platform certificate serial {} ({certificate})",
            shown.platform_certificate_serial
        );
    }
    if mode != Verification::Certificate {
        println!(
            "  WeChat Pay public key {} ({})",
            shown.platform_public_key_id,
            key("platform_public_key.pem")
        );
    }
    if mode == Verification::Migration {
        println!(
            "  answers are signed with the public key only for requests sending \
             `Wechatpay-Serial: {}`; notifications alternate between the keys",
            shown.platform_public_key_id
        );
    }
    println!();
    println!("Configure paygate's wechat provider for a merchant:");
    println!();
    let mut lines = vec![
        format!("--set api_base={url}"),
        format!("--set mchid={} --set appid={}", shown.mchid, shown.appid),
        format!("--set merchant_serial_no={}", shown.merchant_serial_no),
    ];
    if mode != Verification::Certificate {
        lines.push(format!(
            "--set platform_public_key_id={}",
            shown.platform_public_key_id
        ));
    }
    lines.push(format!(
        "--secret-file merchant_private_key={}",
        key("merchant_private_key.pem")
    ));
    if mode != Verification::Certificate {
        lines.push(format!(
            "--secret-file platform_public_key={}",
            key("platform_public_key.pem")
        ));
    }
    if mode.has_certificate() {
        lines.push(format!("--secret-file platform_certificates={certificate}"));
    }
    lines.push(format!("--secret-file apiv3_key={}", key("apiv3_key.txt")));
    println!("  paygate providers configure <merchant id> wechat \\");
    for (i, line) in lines.iter().enumerate() {
        let more = if i + 1 < lines.len() { " \\" } else { "" };
        println!("    {line}{more}");
    }
    println!();
    println!(
        "Knobs: curl -X PUT {url}/sim/knobs -d '{{\"drop_notifications\": true}}' \
         (also delay_ms, fail_next, wrong_response_signature, refund_processing_ms, \
         refund_outcome, notification_signer)"
    );
    println!("Ctrl-C stops it.");
    tokio::signal::ctrl_c().await?;
    drop(sim);
    Ok(())
}
