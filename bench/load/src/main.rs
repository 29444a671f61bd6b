//! paygate-load: a fixed-arrival-rate load test of paygate's payment flow, on goose.
//!
//! One flow = `POST /v1/orders` (a fresh `out_trade_no`) then `POST /v1/payments` for the
//! order it returned. Flows start on a fixed schedule, `--rate` a second in all: goose user
//! `i` of `U` owns the slots `epoch + (i + k·U) / rate`, so the users together start one flow
//! every `1 / rate` seconds. A user that finishes early sleeps until its next slot; one that
//! is late starts the next flow at once, and every flow's latency is counted from its
//! *scheduled* start (the way wrk2 and k6's constant-arrival-rate executor correct for
//! coordinated omission): a stall shows in the latency of every flow it delayed, not only in
//! the one that was in flight. At most `U` flows are in flight. Slots are kept with tokio's
//! timer (1 ms resolution): a flow's latency from its slot includes up to about a
//! millisecond of that timer's slack.
//!
//! Everything goose offers stays available (its options follow ours on the command line):
//! `--report-file`, `--co-mitigation`, `--throttle-requests`, `--run-time`, `--users`, ...
//! What goose reports, by name:
//!
//! - request `POST /v1/orders`, `POST /v1/payments`: time to the response headers of each
//!   request (goose's own measurement);
//! - transaction `flow`: the flow's service time, from its actual start to the payment's
//!   response;
//! - custom request `FLOW scheduled`: the flow's latency from its scheduled start, the
//!   figure the summary calls "flow"; a failed flow is a failed `FLOW scheduled`;
//! - transaction `pace`: the idle time before each flow (not a measurement of paygate).
//!
//! At the end it prints a summary (and writes it as JSON with `--summary-json PATH`): target
//! and achieved flows/s, flow p50/p90/p99/max, each request's p50/p99, errors.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use goose::config::GooseConfiguration;
use goose::goose::GooseResponse;
use goose::metrics::GooseRequestMetricTimingData;
use goose::prelude::*;
use serde_json::{json, Value};

/// What every user reads: set once in `main`, before any user starts.
struct Plan {
    rate: f64,
    users: usize,
    /// Time between two flows of one user: `users / rate`.
    period: Duration,
    /// Slot 0 of the whole run.
    epoch: Instant,
    /// The flows scheduled in `[window_start, window_end)` make the achieved rate: the
    /// `--run-time` that follows the ramp-up. goose runs on a second longer, so that the
    /// last of them can finish.
    window_start: Instant,
    window_end: Instant,
    /// Makes `out_trade_no` unique across runs against the same database.
    run_id: String,
    api_key: String,
    provider: String,
    channel: String,
    amount: u64,
}

static PLAN: OnceLock<Plan> = OnceLock::new();

/// Of the flows scheduled in the window: those that started late because their user was
/// still busy with the previous one at their slot, and those that finished, well or not.
static LATE_STARTS: AtomicUsize = AtomicUsize::new(0);
static WINDOW_DONE: AtomicUsize = AtomicUsize::new(0);
static WINDOW_FAILED: AtomicUsize = AtomicUsize::new(0);

fn plan() -> &'static Plan {
    PLAN.get()
        .expect("the plan is set before the load test starts")
}

/// A user's place in the schedule.
#[derive(Clone)]
struct Pace {
    /// The scheduled start of this user's next flow.
    next: Instant,
    /// Flows this user has started.
    seq: u64,
}

const USAGE: &str = "\
paygate-load: fixed-arrival-rate load test of paygate's create-order + pay flow (goose)

usage: paygate-load --rate FLOWS_PER_S --host URL [OUR OPTIONS] [GOOSE OPTIONS]

Our options:
  --rate N              flows started per second, on a fixed schedule (required)
  --api-key KEY         the merchant's API key (default: $PAYGATE_BENCH_API_KEY)
  --user-period-ms MS   without goose's --users: users = ceil(rate * MS / 1000), at least 4,
                        i.e. each user starts a flow every MS ms [default: 100]
  --provider NAME       provider of the pay call [default: mock]
  --channel NAME        channel of the pay call [default: web]
  --amount N            order amount in minor units (CNY) [default: 1234]
  --summary-json PATH   also write the summary as JSON
  --label TEXT          a label carried into the summary

Goose options we default (a given one wins): --users (see above), --increase-time 1s,
--run-time 20s (the measured time after the ramp-up; goose runs 1 s longer so that the last
scheduled flows finish), --co-mitigation disabled (the schedule already corrects the flow figures;
`--co-mitigation average` adds goose's back-filled rows per request to its report),
--no-telnet, --quiet. `--goose-help` lists every goose option
(--report-file, --throttle-requests, --running-metrics, --threshold, ...).
";

struct Args {
    rate: f64,
    api_key: String,
    user_period: Duration,
    provider: String,
    channel: String,
    amount: u64,
    summary_json: Option<String>,
    label: Option<String>,
    goose: Vec<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut rate = None;
    let mut api_key = std::env::var("PAYGATE_BENCH_API_KEY").ok();
    let mut user_period_ms = 100.0_f64;
    let mut provider = "mock".to_owned();
    let mut channel = "web".to_owned();
    let mut amount = 1234_u64;
    let mut summary_json = None;
    let mut label = None;
    let mut goose = Vec::new();
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        // `--name=value` or `--name value`.
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_owned(), Some(v.to_owned())),
            _ => (arg.clone(), None),
        };
        let ours = [
            "--rate",
            "--api-key",
            "--user-period-ms",
            "--provider",
            "--channel",
            "--amount",
            "--summary-json",
            "--label",
        ];
        if ours.contains(&name.as_str()) {
            let value = match inline {
                Some(v) => v,
                None => it.next().ok_or(format!("{name} needs a value"))?,
            };
            let bad = |what: &str| format!("{name} {value}: {what}");
            match name.as_str() {
                "--rate" => {
                    let r: f64 = value.parse().map_err(|_| bad("not a number"))?;
                    if !(r > 0.0 && r.is_finite()) {
                        return Err(bad("must be positive"));
                    }
                    rate = Some(r);
                }
                "--api-key" => api_key = Some(value),
                "--user-period-ms" => {
                    user_period_ms = value.parse().map_err(|_| bad("not a number"))?;
                    if !(user_period_ms > 0.0 && user_period_ms.is_finite()) {
                        return Err(bad("must be positive"));
                    }
                }
                "--provider" => provider = value,
                "--channel" => channel = value,
                "--amount" => amount = value.parse().map_err(|_| bad("not an integer"))?,
                "--summary-json" => summary_json = Some(value),
                "--label" => label = Some(value),
                _ => unreachable!(),
            }
        } else if arg == "-h" || arg == "--help" {
            print!("{USAGE}");
            std::process::exit(0);
        } else if arg == "--goose-help" {
            let mut command = <GooseConfiguration as clap::CommandFactory>::command();
            let _ = command.print_long_help();
            std::process::exit(0);
        } else {
            goose.push(arg);
        }
    }
    Ok(Args {
        rate: rate.ok_or("--rate is required (flows per second)")?,
        api_key: api_key
            .filter(|k| !k.is_empty())
            .ok_or("--api-key or PAYGATE_BENCH_API_KEY is required")?,
        user_period: Duration::from_secs_f64(user_period_ms / 1000.0),
        provider,
        channel,
        amount,
        summary_json,
        label,
        goose,
    })
}

#[tokio::main]
async fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("paygate-load: {e}\n\n{USAGE}");
            std::process::exit(2);
        }
    };
    let mut config = match GooseConfiguration::parse_args_default(&args.goose) {
        Ok(c) => c,
        Err(GooseError::InvalidOption {
            option,
            value,
            detail,
        }) => {
            eprintln!("paygate-load: goose option {option} {value}: {detail}");
            std::process::exit(2);
        }
        Err(e) => {
            eprintln!("paygate-load: {e}");
            std::process::exit(2);
        }
    };
    let users = *config.users.get_or_insert_with(|| {
        ((args.rate * args.user_period.as_secs_f64()).ceil() as usize).max(4)
    });
    if config.increase_rate.is_none() && config.increase_time.is_none() {
        config.increase_time = Some("1s".into());
    }
    if config.iterations.is_some() {
        eprintln!("paygate-load: --iterations does not fit a fixed arrival rate; use --run-time");
        std::process::exit(2);
    }
    let measured = match parse_time(config.run_time.as_deref().unwrap_or("20s")) {
        Some(t) if t > 0 => t,
        _ => {
            eprintln!("paygate-load: --run-time: a whole number of seconds, or such as 1m30s");
            std::process::exit(2);
        }
    };
    config.run_time = Some(format!("{}s", measured + 1));
    let ramp = match (&config.increase_time, &config.increase_rate) {
        (Some(t), _) => parse_time(t).unwrap_or(1) as f64,
        (None, Some(r)) => users as f64 / r.parse::<f64>().unwrap_or(1.0).max(1e-3),
        (None, None) => 1.0,
    };
    if config.co_mitigation.is_none() {
        config.co_mitigation = Some(GooseCoordinatedOmissionMitigation::Disabled);
    }
    config.no_telnet = true;
    if config.quiet == 0 && config.verbose == 0 {
        config.quiet = 1;
    }
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    let epoch = Instant::now();
    // A quarter of a second after the last user started: every user is in its schedule.
    let window_start = epoch + Duration::from_secs_f64(ramp + 0.25);
    let plan = Plan {
        rate: args.rate,
        users,
        period: Duration::from_secs_f64(users as f64 / args.rate),
        epoch,
        window_start,
        window_end: window_start + Duration::from_secs(measured),
        run_id: format!(
            "{}-{}",
            base36(now_ms),
            base36(u128::from(std::process::id()))
        ),
        api_key: args.api_key.clone(),
        provider: args.provider.clone(),
        channel: args.channel.clone(),
        amount: args.amount,
    };
    println!(
        "paygate-load: {} flows/s target, {} users, each starting a flow every {:.1} ms",
        plan.rate,
        plan.users,
        plan.period.as_secs_f64() * 1000.0
    );
    let _ = PLAN.set(plan);

    let attack = match GooseAttack::initialize_with_config(config) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("paygate-load: {e}");
            std::process::exit(2);
        }
    };
    let result = attack
        .register_scenario(
            scenario!("PaygateFlow")
                .register_transaction(transaction!(pace).set_name("pace").set_sequence(1))
                .register_transaction(transaction!(flow).set_name("flow").set_sequence(2)),
        )
        .execute()
        .await;
    let metrics = match result {
        Ok(m) => m,
        Err(e) => {
            eprintln!("paygate-load: {e}");
            std::process::exit(2);
        }
    };
    let summary = summarize(&metrics, &args);
    print_summary(&summary);
    if let Some(path) = &args.summary_json {
        let text = serde_json::to_string_pretty(&summary).expect("a JSON value serializes");
        if let Err(e) = std::fs::write(path, text + "\n") {
            eprintln!("paygate-load: cannot write {path}: {e}");
            std::process::exit(2);
        }
    }
    // No flow at all went through: the setup is broken, not slow.
    if summary["flow"]["ok"].as_u64() == Some(0) {
        std::process::exit(3);
    }
}

/// goose's time syntax: `90`, `90s`, `1m30s`, `2h`; whole seconds.
fn parse_time(t: &str) -> Option<u64> {
    let t = t.trim();
    if let Ok(secs) = t.parse() {
        return Some(secs);
    }
    let (mut total, mut digits) = (0u64, String::new());
    for c in t.chars() {
        match c {
            '0'..='9' => digits.push(c),
            'h' | 'm' | 's' => {
                let n: u64 = digits.parse().ok()?;
                total += n * match c {
                    'h' => 3600,
                    'm' => 60,
                    _ => 1,
                };
                digits.clear();
            }
            _ => return None,
        }
    }
    digits.is_empty().then_some(total)
}

fn base36(mut n: u128) -> String {
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).expect("ASCII digits")
}

/// Waits for this user's next slot. The first call places the user in the schedule: user
/// `i` owns the slots `epoch + (i + k·users) / rate`.
async fn pace(user: &mut GooseUser) -> TransactionResult {
    let plan = plan();
    let next = match user.get_session_data::<Pace>() {
        Some(p) => p.next,
        None => {
            let offset = Duration::from_secs_f64(user.weighted_users_index as f64 / plan.rate);
            let first = plan.epoch + offset;
            let now = Instant::now();
            let next = if now <= first {
                first
            } else {
                let k = ((now - first).as_secs_f64() / plan.period.as_secs_f64()).ceil();
                first + plan.period.mul_f64(k)
            };
            user.set_session_data(Pace { next, seq: 0 });
            next
        }
    };
    tokio::time::sleep_until(next.into()).await;
    Ok(())
}

/// One flow: create an order, pay it; its latency from the scheduled start goes into
/// `FLOW scheduled`.
async fn flow(user: &mut GooseUser) -> TransactionResult {
    let plan = plan();
    let (scheduled, seq) = {
        let pace = user
            .get_session_data_mut::<Pace>()
            .expect("pace runs before flow and sets the session");
        let slot = (pace.next, pace.seq);
        pace.next += plan.period;
        pace.seq += 1;
        slot
    };
    let in_window = scheduled >= plan.window_start && scheduled < plan.window_end;
    let outcome = create_and_pay(user, plan, seq).await;
    let latency = scheduled.elapsed();
    // Still busy at the next slot: the next flow starts late.
    let next = scheduled + plan.period;
    if next >= plan.window_start && next < plan.window_end && Instant::now() > next {
        LATE_STARTS.fetch_add(1, Ordering::Relaxed);
    }
    if in_window {
        WINDOW_DONE.fetch_add(1, Ordering::Relaxed);
        if outcome.is_err() {
            WINDOW_FAILED.fetch_add(1, Ordering::Relaxed);
        }
    }
    let error = outcome.as_ref().err().map(String::as_str);
    user.record_custom_request_duration("FLOW", "scheduled", latency, error.is_none(), None, error)
        .await?;
    match outcome {
        Ok(()) => Ok(()),
        Err(e) => Err(Box::new(TransactionError::Custom(e))),
    }
}

/// The two requests of a flow; `Err` names what failed (the request itself is already
/// recorded as failed in goose's metrics).
async fn create_and_pay(user: &mut GooseUser, plan: &Plan, seq: u64) -> Result<(), String> {
    let out_trade_no = format!("b{}-{}-{}", plan.run_id, user.weighted_users_index, seq);
    let order = json!({
        "out_trade_no": out_trade_no,
        "amount": plan.amount,
        "currency": "CNY",
        "subject": "paygate-load",
        "ttl_seconds": 1800,
    });
    let body = post(user, plan, "/v1/orders", &order).await?;
    let order_id = body["id"]
        .as_str()
        .ok_or("POST /v1/orders: 201 without an id")?
        .to_owned();
    let pay = json!({
        "order_ids": [order_id],
        "provider": plan.provider,
        "channel": plan.channel,
    });
    let body = post(user, plan, "/v1/payments", &pay).await?;
    if body["payment_no"].as_str().is_none() {
        return Err("POST /v1/payments: 201 without a payment_no".into());
    }
    Ok(())
}

/// POSTs `body` as JSON with the merchant's key, expecting 201 and a JSON answer.
async fn post(
    user: &mut GooseUser,
    plan: &Plan,
    path: &str,
    body: &Value,
) -> Result<Value, String> {
    let builder = user
        .get_request_builder(&GooseMethod::Post, path)
        .map_err(|e| format!("POST {path}: {e}"))?
        .bearer_auth(&plan.api_key)
        .json(body);
    let request = GooseRequest::builder()
        .set_request_builder(builder)
        .name(path)
        .expect_status_code(201)
        .build();
    let GooseResponse {
        request: mut metric,
        response,
    } = user
        .request(request)
        .await
        .map_err(|e| format!("POST {path}: {e}"))?;
    let (status, text) = match response {
        Ok(r) => {
            let status = r.status().as_u16();
            match r.text().await {
                Ok(t) => (status, t),
                Err(e) => {
                    let tag = format!("POST {path}: reading the answer: {e}");
                    let _ = user.set_failure(&tag, &mut metric, None, None);
                    return Err(tag);
                }
            }
        }
        Err(e) => return Err(format!("POST {path}: {e}")),
    };
    if status != 201 {
        // goose has marked the request failed (expect_status_code); keep paygate's error
        // code in the flow's error.
        let code = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v["error"]["code"].as_str().map(str::to_owned))
            .unwrap_or_else(|| text.chars().take(80).collect());
        return Err(format!("POST {path}: {status} {code}"));
    }
    serde_json::from_str(&text).map_err(|e| {
        let tag = format!("POST {path}: answer is not JSON: {e}");
        let _ = user.set_failure(&tag, &mut metric, None, Some(&text));
        tag
    })
}

fn ms(us: u64) -> f64 {
    (us as f64 / 10.0).round() / 100.0
}

fn timing(t: &GooseRequestMetricTimingData) -> Value {
    json!({
        "count": t.counter,
        "p50_ms": ms(t.percentile_us(0.50)),
        "p90_ms": ms(t.percentile_us(0.90)),
        "p99_ms": ms(t.percentile_us(0.99)),
        "max_ms": ms(t.maximum_time_us),
    })
}

fn summarize(metrics: &GooseMetrics, args: &Args) -> Value {
    let plan = plan();
    let window = (plan.window_end - plan.window_start).as_secs_f64();
    let mut requests = serde_json::Map::new();
    let mut flow = json!({"ok": 0, "failed": 0});
    for (key, agg) in &metrics.requests {
        if key == "FLOW scheduled" {
            let mut v = timing(&agg.raw_data);
            v["ok"] = json!(agg.success_count);
            v["failed"] = json!(agg.fail_count);
            flow = v;
            continue;
        }
        let mut v = timing(&agg.raw_data);
        v["ok"] = json!(agg.success_count);
        v["failed"] = json!(agg.fail_count);
        if let Some(co) = &agg.coordinated_omission_data {
            v["co_adjusted"] = timing(co);
        }
        requests.insert(key.clone(), v);
    }
    let service = metrics
        .transactions
        .iter()
        .flatten()
        .find(|t| t.transaction_name.name_for_transaction() == "flow")
        .map(|t| timing(&t.run_times))
        .unwrap_or(Value::Null);
    // The flows scheduled in the window that finished: every slot of the window has one
    // when the rate was held.
    let scheduled = (window * plan.rate).round();
    let done = WINDOW_DONE.load(Ordering::Relaxed);
    let achieved = done as f64 / window;
    let mut errors: Vec<(usize, String)> = metrics
        .errors
        .values()
        .map(|e| (e.occurrences, e.error.clone()))
        .collect();
    errors.sort_by_key(|e| std::cmp::Reverse(e.0));
    let request_errors: usize = requests
        .values()
        .map(|r| r["failed"].as_u64().unwrap_or(0) as usize)
        .sum();
    json!({
        "label": args.label,
        "target_flows_per_s": plan.rate,
        "achieved_flows_per_s": (achieved * 10.0).round() / 10.0,
        "achieved_ratio": ((done as f64 / scheduled.max(1.0)) * 1000.0).round() / 1000.0,
        "window_s": window,
        "window_scheduled": scheduled,
        "window_done": done,
        "window_failed": WINDOW_FAILED.load(Ordering::Relaxed),
        "goose_duration_s": metrics.duration,
        "users": plan.users,
        "late_starts": LATE_STARTS.load(Ordering::Relaxed),
        "flow": flow,
        "flow_service": service,
        "requests": requests,
        "request_errors": request_errors,
        "errors": errors
            .iter()
            .take(5)
            .map(|(n, e)| json!({"count": n, "error": e}))
            .collect::<Vec<_>>(),
    })
}

fn print_summary(s: &Value) {
    let f = &s["flow"];
    println!();
    println!(
        "== paygate-load summary{} ==",
        match s["label"].as_str() {
            Some(l) => format!(" ({l})"),
            None => String::new(),
        }
    );
    println!(
        "target {} flows/s, achieved {} flows/s ({:.1}%: {} of the {} flows scheduled in {} s finished, {} failed), {} users",
        s["target_flows_per_s"],
        s["achieved_flows_per_s"],
        s["achieved_ratio"].as_f64().unwrap_or(0.0) * 100.0,
        s["window_done"],
        s["window_scheduled"],
        s["window_s"],
        s["window_failed"],
        s["users"]
    );
    println!(
        "flow (from its scheduled start): {} ok, {} failed; p50 {} ms, p90 {} ms, p99 {} ms, max {} ms",
        f["ok"], f["failed"], f["p50_ms"], f["p90_ms"], f["p99_ms"], f["max_ms"]
    );
    let sv = &s["flow_service"];
    if !sv.is_null() {
        println!(
            "flow service time (from its actual start): p50 {} ms, p99 {} ms",
            sv["p50_ms"], sv["p99_ms"]
        );
    }
    if let Some(reqs) = s["requests"].as_object() {
        for (name, r) in reqs {
            let co = match r.get("co_adjusted") {
                Some(c) => format!(", goose CO-adjusted p99 {} ms", c["p99_ms"]),
                None => String::new(),
            };
            println!(
                "{name}: {} ok, {} failed; p50 {} ms, p99 {} ms, max {} ms{co}",
                r["ok"], r["failed"], r["p50_ms"], r["p99_ms"], r["max_ms"]
            );
        }
    }
    println!(
        "flows of the window that started late (their user was still busy at their slot): {}",
        s["late_starts"]
    );
    if let Some(errors) = s["errors"].as_array() {
        for e in errors {
            println!("error x{}: {}", e["count"], e["error"]);
        }
    }
}
