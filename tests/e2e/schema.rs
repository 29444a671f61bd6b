//! The database and the domain agree on every state, kind and flag: each name the domain
//! has is accepted by the CHECK constraints (triggers on SQLite) and any other name is
//! refused, on both engines, with the migrations as they run at start; and an order's event
//! sequence numbers are from 1 up and distinct per order.

use paygate_e2e::backends::TestDatabase;
use paygate_e2e::paygate::domain::{
    DeliveryState, OrderState, PaymentFlag, PaymentState, RefundKind, RefundState,
};
use paygate_e2e::paygate::store::{self, Db};

/// Inserts one row of each table, then sets `column` of `table` to each name in turn.
async fn accepts_exactly(db: &Db, table: &str, column: &str, key: &str, names: &[&str]) {
    for name in names {
        let sql = format!("UPDATE {table} SET {column} = $1 WHERE {key}");
        sqlx::query(&sql)
            .bind(*name)
            .execute(&db.pool)
            .await
            .unwrap_or_else(|e| panic!("{table}.{column} refuses the domain's `{name}`: {e}"));
    }
    let sql = format!("UPDATE {table} SET {column} = $1 WHERE {key}");
    let refused = sqlx::query(&sql)
        .bind("no_such_state")
        .execute(&db.pool)
        .await;
    assert!(
        refused.is_err_and(|e| e.to_string().contains("check") || e.to_string().contains("CHECK")),
        "{table}.{column} takes a name the domain does not have"
    );
}

async fn rows(db: &Db) {
    for sql in [
        "INSERT INTO merchants (id, name, api_key_hash, webhook_secret, created_at) VALUES ('m1', 'm', 'h', 's', 0)",
        "INSERT INTO orders (id, merchant_id, out_trade_no, amount, currency, subject, state, expires_at, created_at, updated_at)
         VALUES ('o1', 'm1', 'T1', 100, 'CNY', 'Tea', 'pending', 0, 0, 0)",
        "INSERT INTO payments (payment_no, merchant_id, provider, channel, amount, currency, state, provider_deadline, created_at, updated_at, order_ids)
         VALUES ('p1', 'm1', 'mock', 'qr', 100, 'CNY', 'open', 0, 0, 0, 'o1')",
        "INSERT INTO refunds (refund_no, payment_no, merchant_id, amount, currency, kind, state, created_at, updated_at)
         VALUES ('r1', 'p1', 'm1', 100, 'CNY', 'merchant', 'pending', 0, 0)",
        "INSERT INTO order_events (id, order_id, merchant_id, kind, payload, delivery, created_at, seq)
         VALUES ('e1', 'o1', 'm1', 'order.paid', '{}', 'pending', 0, 1)",
        "INSERT INTO flag_resolutions (id, payment_no, merchant_id, flag, note, resolved_by, resolved_at)
         VALUES ('fr1', 'p1', 'm1', 'late_payment', 'checked', 'alice', 0)",
        "INSERT INTO delivery_attempts (event_id, n, at, kind, status, operator)
         VALUES ('e1', 1, 0, 'attempt', 500, NULL)",
    ] {
        sqlx::query(sql).execute(&db.pool).await.expect(sql);
    }
}

fn names<T: Copy>(all: &[T], name: impl Fn(T) -> &'static str) -> Vec<&'static str> {
    all.iter().map(|&t| name(t)).collect()
}

async fn check(db: &Db) {
    rows(db).await;
    let cases: [(&str, &str, &str, Vec<&str>); 8] = [
        (
            "orders",
            "state",
            "id = 'o1'",
            names(OrderState::ALL, |s| s.as_str()),
        ),
        (
            "payments",
            "state",
            "payment_no = 'p1'",
            names(PaymentState::ALL, |s| s.as_str()),
        ),
        (
            "payments",
            "flag",
            "payment_no = 'p1'",
            names(PaymentFlag::ALL, |s| s.as_str()),
        ),
        (
            "refunds",
            "state",
            "refund_no = 'r1'",
            names(RefundState::ALL, |s| s.as_str()),
        ),
        (
            "refunds",
            "kind",
            "refund_no = 'r1'",
            names(RefundKind::ALL, |s| s.as_str()),
        ),
        (
            "order_events",
            "delivery",
            "id = 'e1'",
            names(DeliveryState::ALL, |s| s.as_str()),
        ),
        (
            "flag_resolutions",
            "flag",
            "id = 'fr1'",
            names(PaymentFlag::ALL, |s| s.as_str()),
        ),
        (
            "delivery_attempts",
            "kind",
            "event_id = 'e1' AND n = 1",
            vec!["attempt", "redelivery"],
        ),
    ];
    for (table, column, key, names) in cases {
        accepts_exactly(db, table, column, key, &names).await;
    }
    sequence_numbers_are_from_one_up_and_distinct_per_order(db).await;
}

/// Inserts an event of order `o1` numbered `seq` (`None`: the number left out).
async fn insert_event(db: &Db, id: &str, seq: Option<i64>) -> Result<(), String> {
    let sql = match seq {
        Some(_) => "INSERT INTO order_events (id, order_id, merchant_id, kind, payload, delivery, created_at, seq)
             VALUES ($1, 'o1', 'm1', 'order.refunded', '{}', 'pending', 0, $2)",
        None => "INSERT INTO order_events (id, order_id, merchant_id, kind, payload, delivery, created_at)
             VALUES ($1, 'o1', 'm1', 'order.refunded', '{}', 'pending', 0)",
    };
    let mut q = sqlx::query(sql).bind(id);
    if let Some(seq) = seq {
        q = q.bind(seq);
    }
    q.execute(&db.pool)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

async fn sequence_numbers_are_from_one_up_and_distinct_per_order(db: &Db) {
    let duplicate = insert_event(db, "e2", Some(1)).await;
    assert!(
        duplicate
            .as_ref()
            .is_err_and(|e| e.contains("order_events_order_seq")
                || e.contains("order_events.order_id, order_events.seq")),
        "a second event numbered 1 of the same order: {duplicate:?}"
    );
    for (id, seq) in [("e3", Some(0)), ("e4", None)] {
        let refused = insert_event(db, id, seq).await;
        assert!(
            refused
                .as_ref()
                .is_err_and(|e| e.contains("order_events_seq_check") || e.contains("null value")),
            "an event numbered {seq:?}: {refused:?}"
        );
    }
    insert_event(db, "e5", Some(2))
        .await
        .expect("the order's second event");
}

#[tokio::test]
async fn sqlite_takes_exactly_the_domain_s_names() {
    let dir = tempfile::tempdir().expect("dir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("p.db").display());
    let db = store::connect(&url).await.expect("migrated");
    check(&db).await;
}

#[tokio::test]
async fn postgres_takes_exactly_the_domain_s_names() {
    let database = TestDatabase::create().await;
    let db = store::connect(&database.url).await.expect("migrated");
    check(&db).await;
    db.pool.close().await;
    database.drop_db().await;
}
