//! Reconciliation against WeChat Pay's trade bill, end to end: paygate asks the real
//! `wechat` component for a day's bill, the component fetches `GET /v3/bill/tradebill` and
//! the signed download from the simulator (hash checked, gzip), parses WeChat's backtick
//! rows, and paygate matches them with its payments and refunds, records each difference
//! once, and settles the money a lost notification hid.

use paygate::domain::reconcile::BillDay;
use paygate_e2e::{assert_error, Setting, TestApp, ADMIN_TOKEN};
use reqwest::StatusCode;
use serde_json::{json, Value};
use wechat_simulator::{SimConfig, WechatSimulator};

use super::{configure_wechat, PlatformKeys, Wechat, FAST};

/// Today's bill day (Beijing time): the simulator serves the day's bill at once with the
/// `bills_ready_at_once` knob.
pub(crate) fn today() -> String {
    BillDay::of_instant(paygate::store::now_ms()).to_string()
}

/// `POST /admin/reconciliations` for `provider` on `day`: the one run of the demo merchant.
pub(crate) async fn reconcile(app: &TestApp, day: &str, provider: &str) -> Value {
    let (status, runs) = app
        .admin_post(
            "/admin/reconciliations",
            &json!({"date": day, "provider": provider}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{runs}");
    let runs = runs.as_array().expect("runs").clone();
    let mine: Vec<&Value> = runs
        .iter()
        .filter(|r| r["merchant_id"] == json!(app.merchant.id))
        .collect();
    assert_eq!(mine.len(), 1, "{runs:?}");
    mine[0].clone()
}

/// The kinds and numbers of a run's differences, sorted.
pub(crate) fn kinds(run: &Value) -> Vec<(String, String)> {
    let mut kinds: Vec<(String, String)> = run["differences"]
        .as_array()
        .expect("differences")
        .iter()
        .map(|d| {
            (
                d["kind"].as_str().unwrap_or_default().to_owned(),
                d["refund_no"]
                    .as_str()
                    .or(d["payment_no"].as_str())
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect();
    kinds.sort();
    kinds
}

/// A paygate that hears nothing from WeChat unless a test asks (notifications dropped, the
/// status sync a minute away), with bills served at once. (A knobs change names only what
/// it changes.)
async fn quiet(setting: Setting) -> Wechat {
    let w = Wechat::start(setting, &[("PAYGATE_STATUS_SYNC_SCHEDULE", "60s")]).await;
    w.knobs(json!({"drop_notifications": true, "bills_ready_at_once": true}))
        .await;
    w
}

impl Wechat {
    /// An order of `amount` paid at WeChat and settled at paygate by its notification.
    async fn settled_order(&self, amount: i64) -> (String, String) {
        let (id, payment_no) = self.order_paid_at_wechat(amount).await;
        let (status, reply) = self.notify_now(&payment_no, json!({})).await;
        assert!(status == 200 || status == 204, "{status} {reply}");
        assert_eq!(self.app.order(&id).await["state"], "paid");
        (id, payment_no)
    }
}

async fn a_day_of_wechat_bills_is_reconciled_once_however_often_it_runs(setting: Setting) {
    let w = quiet(setting).await;
    let day = today();
    // A: paid at WeChat; the notification is lost and the status sync has not asked.
    let (lost_order, lost) = w.order_paid_at_wechat(1000).await;
    assert_eq!(w.app.order(&lost_order).await["state"], "pending");
    // B: paid and settled, then refunded in part.
    let (_, refunded) = w.settled_order(2000).await;
    let r = w
        .app
        .post(
            &format!("/v1/payments/{refunded}/refunds"),
            &w.app.merchant.api_key,
            &json!({"amount": 500}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let refund: Value = r.json().await.expect("refund");
    assert_eq!(refund["state"], "succeeded", "{refund}");
    let refund_no = refund["refund_no"].as_str().expect("refund_no").to_owned();
    // C: settled at 3000 fen; the bill says 2999. D: another system's trade on the account.
    let (_, differs) = w.settled_order(3000).await;
    w.knobs(json!({
        "drop_notifications": true,
        "bills_ready_at_once": true,
        "bill_amounts": {differs.clone(): 2999},
        "bill_extra": [{"out_trade_no": "OTHERSYSTEM0001", "total": 777}],
    }))
    .await;

    let first = reconcile(&w.app, &day, "wechat").await;
    assert_eq!(first["state"], "reconciled", "{first}");
    assert_eq!(first["payment_rows"], 4, "{first}");
    assert_eq!(first["refund_rows"], 1, "{first}");
    assert_eq!(first["matched"], 2, "B's payment and its refund: {first}");
    assert_eq!(
        kinds(&first),
        vec![
            ("amount_differs".to_owned(), differs.clone()),
            ("paid_only_at_provider".to_owned(), lost.clone()),
            ("unknown_trade".to_owned(), "OTHERSYSTEM0001".to_owned()),
        ]
    );
    let difference = |run: &Value, kind: &str| -> Value {
        run["differences"]
            .as_array()
            .expect("differences")
            .iter()
            .find(|d| d["kind"] == kind)
            .cloned()
            .expect(kind)
    };
    // The money the lost notification hid went through the late-payment rules: the order
    // could still be paid, so it is.
    let found = difference(&first, "paid_only_at_provider");
    assert_eq!(found["action"], "paid", "{found}");
    assert_eq!(found["billed_amount"], 1000);
    assert_eq!(w.app.order(&lost_order).await["state"], "paid");
    assert_eq!(w.payment(&lost).await["state"], "paid");
    let amounts = difference(&first, "amount_differs");
    assert_eq!(
        (&amounts["billed_amount"], &amounts["recorded_amount"]),
        (&json!(2999), &json!(3000))
    );
    let totals = &first["totals"][0];
    assert_eq!(totals["currency"], "CNY");
    assert_eq!(totals["collected"], 1000 + 2000 + 2999 + 777, "{totals}");
    assert_eq!(totals["refunded"], 500, "{totals}");
    let fees = totals["fees"].as_i64().expect("fees");
    assert!(fees > 0, "WeChat charges a fee: {totals}");
    assert_eq!(totals["net"], json!(1000 + 2000 + 2999 + 777 - 500 - fees));

    // The same day again: the bill matches what the first run left (A is paid now), and
    // nothing the first run recorded changes or is recorded twice.
    let second = reconcile(&w.app, &day, "wechat").await;
    assert_eq!(second["attempts"], 2);
    assert_eq!(second["matched"], 3, "A now matches: {second}");
    assert_eq!(second["differences"], first["differences"]);
    assert_eq!(second["totals"], first["totals"]);
    assert_eq!(w.app.order(&lost_order).await["state"], "paid");
    assert_eq!(
        w.app
            .db_i64("SELECT COUNT(*) FROM refunds WHERE payment_no = $1", &lost)
            .await,
        0,
        "no refund of money paygate may keep"
    );
    let _ = refund_no;
    // A later run that cannot have the bill does not undo the day: it only says why.
    w.knobs(json!({"bills_ready_at_once": false})).await;
    let third = reconcile(&w.app, &day, "wechat").await;
    assert_eq!(third["state"], "reconciled", "{third}");
    assert_eq!(
        (&third["matched"], &third["totals"]),
        (&second["matched"], &first["totals"])
    );
    assert!(third["error"].as_str().is_some(), "{third}");
    w.knobs(json!({"bills_ready_at_once": true})).await;

    // What waits for an operator, and resolving it.
    let (_, flags) = w.app.admin_get("/admin/flags").await;
    let open = flags["bill_differences"]
        .as_array()
        .expect("bill_differences");
    assert_eq!(open.len(), 3, "{flags}");
    let id = difference(&first, "unknown_trade")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let path = format!("/admin/bill-differences/{id}/resolve");
    let (status, resolved) = w
        .app
        .admin_post(
            &path,
            &json!({"note": "another shop's trade on the same account"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{resolved}");
    assert_eq!(resolved["resolved_by"], "admin");
    let again = w
        .app
        .post(&path, ADMIN_TOKEN, &json!({"note": "twice"}))
        .await;
    assert_error(again, StatusCode::CONFLICT, "difference_resolved").await;
    let (_, flags) = w.app.admin_get("/admin/flags").await;
    assert_eq!(flags["bill_differences"].as_array().map(Vec::len), Some(2));

    // The merchant's settlement of the day, in JSON and CSV.
    let r = w
        .app
        .get(&format!("/v1/settlements/{day}"), &w.app.merchant.api_key)
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let settlement: Value = r.json().await.expect("settlement");
    let wechat = settlement["providers"]
        .as_array()
        .expect("providers")
        .iter()
        .find(|p| p["provider"] == "wechat")
        .cloned()
        .expect("wechat");
    assert_eq!(wechat["state"], "reconciled");
    assert_eq!(wechat["totals"], first["totals"]);
    assert_eq!(
        (&wechat["payments"], &wechat["refunds"]),
        (&json!(4), &json!(1))
    );
    let r = w
        .app
        .get(
            &format!("/v1/settlements/{day}?format=csv"),
            &w.app.merchant.api_key,
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap_or_default()
        .starts_with("text/csv"));
    let csv = r.text().await.expect("csv");
    assert!(
        csv.contains(&format!(
            "{day},wechat,reconciled,CNY,4,1,6776,500,{fees},{},3\r\n",
            6776 - 500 - fees
        )),
        "{csv}"
    );

    // Counted for alerts.
    let metrics = w
        .app
        .client
        .get(format!("{}/metrics", w.app.url))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics
            .contains("paygate_bill_differences_total{kind=\"unknown_trade\",provider=\"wechat\"}")
            || metrics.contains(
                "paygate_bill_differences_total{provider=\"wechat\",kind=\"unknown_trade\"}"
            ),
        "{metrics}"
    );
}

/// A payment paygate holds as paid that the bill lacks is flagged, and nothing changes; a
/// bill that is not ready yet is a run to retry, not an error; the mock adapter does not
/// reconcile, and the API says so.
async fn what_the_bill_lacks_is_flagged_and_an_unready_bill_is_retried(setting: Setting) {
    let w = quiet(setting).await;
    let day = today();
    let (_, omitted) = w.settled_order(1500).await;

    w.knobs(json!({"bills_ready_at_once": false})).await;
    let waiting = reconcile(&w.app, &day, "wechat").await;
    assert_eq!(waiting["state"], "not_ready", "{waiting}");
    assert!(
        waiting["error"]
            .as_str()
            .unwrap_or_default()
            .contains("not produced the bill yet"),
        "{waiting}"
    );
    let r = w
        .app
        .get(&format!("/v1/settlements/{day}"), &w.app.merchant.api_key)
        .await;
    let settlement: Value = r.json().await.expect("settlement");
    assert!(
        settlement["providers"]
            .as_array()
            .expect("providers")
            .iter()
            .any(|p| p["provider"] == "wechat" && p["state"] == "not_ready"),
        "{settlement}"
    );

    w.knobs(json!({"drop_notifications": true, "bills_ready_at_once": true, "bill_omit": [omitted.clone()]}))
        .await;
    // A bill without a single trade, when paygate holds one paid that day, is a provider
    // late with its bill (Alipay answers "no bill" then), not a day to flag.
    let empty = reconcile(&w.app, &day, "wechat").await;
    assert_eq!(empty["state"], "not_ready", "{empty}");
    assert!(
        empty["error"]
            .as_str()
            .unwrap_or_default()
            .contains("the bill lists no trade"),
        "{empty}"
    );
    w.settled_order(800).await;
    let run = reconcile(&w.app, &day, "wechat").await;
    assert_eq!(run["state"], "reconciled", "{run}");
    assert_eq!(run["attempts"], 3);
    assert_eq!(run["matched"], 1, "{run}");
    assert_eq!(
        kinds(&run),
        vec![("missing_from_bill".to_owned(), omitted.clone())]
    );
    assert_eq!(run["differences"][0]["recorded_amount"], 1500);
    assert_eq!(w.payment(&omitted).await["state"], "paid");

    // Which adapters reconcile, and what cannot be asked.
    let (_, adapters) = w.app.admin_get("/admin/adapters").await;
    let reconciles = |name: &str| {
        adapters
            .as_array()
            .expect("adapters")
            .iter()
            .find(|a| a["provider"] == name)
            .map(|a| a["reconciles"].clone())
    };
    assert_eq!(reconciles("wechat"), Some(json!(true)), "{adapters}");
    assert_eq!(reconciles("mock"), Some(json!(false)), "{adapters}");
    for (body, status, code) in [
        (
            json!({"date": day, "provider": "mock"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "provider_cannot_reconcile",
        ),
        (
            json!({"date": "2026-02-30"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_day",
        ),
        (
            json!({"date": "2999-01-01"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_day",
        ),
        (
            json!({"date": day, "provider": "nope"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_provider",
        ),
        (
            json!({"date": day, "merchant_id": "m_missing"}),
            StatusCode::NOT_FOUND,
            "merchant_not_found",
        ),
        (
            json!({"date": day, "extra": 1}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
    ] {
        let r = w
            .app
            .post("/admin/reconciliations", ADMIN_TOKEN, &body)
            .await;
        assert_error(r, status, code).await;
    }
    let r = w
        .app
        .get("/v1/settlements/yesterday", &w.app.merchant.api_key)
        .await;
    assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_day").await;
    let r = w
        .app
        .get(
            &format!("/v1/settlements/{day}?format=xml"),
            &w.app.merchant.api_key,
        )
        .await;
    assert_error(r, StatusCode::BAD_REQUEST, "invalid_query").await;
}

/// The daily run: on paygate's clock, the morning after a day (10:30 Beijing time), the
/// delay queue's `bills` task reconciles it for every merchant, then moves to the next day.
async fn the_daily_task_reconciles_each_day_the_next_morning(setting: Setting) {
    let mut config = SimConfig::with_fixture_keys();
    config.time_scale = 1000.0;
    let sim = WechatSimulator::spawn(config, "127.0.0.1:0")
        .await
        .expect("the simulator starts");
    let vars: Vec<(&str, &str)> = FAST.to_vec();
    let app = TestApp::spawn_stepped(setting, &vars).await;
    configure_wechat(
        &app,
        &sim.base_url(),
        PlatformKeys::PublicKey,
        "merchant_private_key.pem",
    )
    .await;
    let w = Wechat { app, sim };
    w.knobs(json!({"bills_ready_at_once": true})).await;
    let (_, paid) = w.settled_order(4200).await;
    let day = today();

    // Tomorrow at 10:31 Beijing time on paygate's clock: every day up to today is due, one
    // task run each.
    let tomorrow = BillDay::parse(&day).expect("day").next();
    let (start, _) = tomorrow.bounds_ms();
    let target = start + (10 * 60 + 31) * 60_000;
    let now = paygate::store::now_ms();
    w.app.advance(std::time::Duration::from_millis(
        u64::try_from(target - now).expect("ahead"),
    ));
    for _ in 0..4 {
        w.app.run_due("bills").await;
    }
    let (status, runs) = w
        .app
        .admin_get(&format!("/admin/reconciliations/{day}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{runs}");
    let run = runs
        .as_array()
        .expect("runs")
        .iter()
        .find(|r| r["merchant_id"] == json!(w.app.merchant.id) && r["provider"] == "wechat")
        .cloned()
        .unwrap_or_else(|| panic!("today's run: {runs}"));
    assert_eq!(run["state"], "reconciled", "{run}");
    assert_eq!(run["matched"], 1, "{run}");
    assert_eq!(run["differences"], json!([]));
    let _ = paid;
}

/// `paygate reconcile --date D --url ...`: the day's run through a running paygate, as a
/// table an operator reads, then its differences; `--json` prints the admin API's answer.
async fn paygate_reconcile_prints_each_run_and_its_differences(setting: Setting) {
    let w = quiet(setting).await;
    let day = today();
    let (_, lost) = w.order_paid_at_wechat(990).await;
    let url = w.app.url.clone();
    let run = |json: bool| {
        let (day, url) = (day.clone(), url.clone());
        tokio::task::spawn_blocking(move || {
            let mut args = vec![
                "reconcile",
                "--date",
                &day,
                "--provider",
                "wechat",
                "--url",
                &url,
            ];
            if json {
                args.push("--json");
            }
            let out = std::process::Command::new(env!("CARGO_BIN_EXE_readme-paygate"))
                .args(&args)
                .env("PAYGATE_ADMIN_TOKEN", ADMIN_TOKEN)
                .env_remove("PAYGATE_URL")
                .output()
                .expect("paygate runs");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout).into_owned()
        })
    };
    let table = run(false).await.expect("the command");
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("MERCHANT"), "{table}");
    let mine = lines
        .iter()
        .find(|l| l.starts_with(&w.app.merchant.id))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(
        mine.contains("wechat") && mine.contains("reconciled"),
        "{mine}"
    );
    assert!(mine.contains("CNY collected 990 refunded 0"), "{mine}");
    assert!(
        table.lines().any(|l| l.contains("paid_only_at_provider")
            && l.contains(&lost)
            && l.contains("paid")),
        "{table}"
    );
    let json: Value = serde_json::from_str(&run(true).await.expect("the command")).expect("JSON");
    let mine = json
        .as_array()
        .expect("runs")
        .iter()
        .find(|r| r["merchant_id"] == json!(w.app.merchant.id))
        .cloned()
        .expect("the merchant's run");
    assert_eq!(mine["attempts"], 2, "{mine}");
    assert_eq!(
        kinds(&mine),
        vec![("paid_only_at_provider".to_owned(), lost)]
    );
}

in_both_settings!(
    paygate_reconcile_prints_each_run_and_its_differences,
    a_day_of_wechat_bills_is_reconciled_once_however_often_it_runs,
    what_the_bill_lacks_is_flagged_and_an_unready_bill_is_retried,
);

mod stepped {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_daily_task_reconciles_each_day_the_next_morning() {
        super::the_daily_task_reconciles_each_day_the_next_morning(Setting::Embedded).await
    }
}
