//! An endpoint with a real handler on PostgreSQL: stock reservations. Each order message
//! (`"<order> <quantity>"`, keyed by item) reserves stock if enough is left, else is
//! rejected; either way one outgoing message says so. Inbox, state and outbox change in
//! one PostgreSQL transaction per batch. The endpoint "crashes" (its connection is
//! dropped) and the restarted one is handed the last deliveries again, as a redelivering
//! source would: they are recognised by id and change nothing.
//!
//! Needs PostgreSQL: `EXACTLY_PG_URL`, default `host=127.0.0.1 user=postgres dbname=test`.
//! Run: `cargo run -p exactly-postgres --example pg_endpoint` (exits non-zero if the stock
//! in the database or the outgoing messages differ from a model that applies every order
//! once).

use exactly_core::clock::SystemClock;
use exactly_endpoint::{
    Delivery, Endpoint, EndpointConfig, Handler, HandlerError, Message, MessageId, Outbox,
    Position, State,
};
use exactly_postgres::{drop_schema, PgOptions, PgStore};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Stock of an item the store has not seen yet (documented starting stock, not a
/// fallback for a failed read).
const INITIAL_STOCK: i64 = 40;
const ITEMS: [&str; 3] = ["apples", "pears", "plums"];
const ORDERS: u64 = 60;
const BATCH: usize = 10;
/// Deliveries the restarted endpoint is handed again.
const REDELIVERED: usize = 20;

struct Reservations;

impl Handler for Reservations {
    type Value = i64;

    fn keys(&self, msg: &Message, keys: &mut Vec<Vec<u8>>) {
        keys.push(msg.key.clone()); // the item's stock
    }

    fn handle(
        &mut self,
        msg: &Message,
        state: &mut State<'_, i64>,
        out: &mut Outbox,
    ) -> Result<(), HandlerError> {
        let (order, quantity) =
            parse(&msg.payload).map_err(|reason| HandlerError::Reject { reason })?;
        let stock = match state.get(&msg.key)? {
            Some(stock) => *stock,
            None => INITIAL_STOCK, // an item's first order
        };
        if quantity <= stock {
            state.put(&msg.key, stock - quantity)?;
            out.send(
                "reserved",
                msg.key.clone(),
                format!("{order} {quantity}").into_bytes(),
            )
        } else {
            out.send(
                "rejected",
                msg.key.clone(),
                format!("{order} {quantity}").into_bytes(),
            )
        }
    }
}

fn parse(payload: &[u8]) -> Result<(String, i64), String> {
    let text = std::str::from_utf8(payload).map_err(|e| e.to_string())?;
    let (order, quantity) = text.split_once(' ').ok_or("want \"<order> <quantity>\"")?;
    let quantity: i64 = quantity
        .parse()
        .map_err(|e| format!("quantity {quantity:?}: {e}"))?;
    Ok((order.to_string(), quantity))
}

fn deliveries() -> Vec<Delivery> {
    (0..ORDERS)
        .zip(ITEMS.iter().cycle())
        .map(|(n, item)| {
            let order = format!("order-{n}");
            Delivery {
                message: Message {
                    id: MessageId::from_name(&order),
                    key: item.as_bytes().to_vec(),
                    payload: format!("{order} {}", 1 + (n * 7) % 5).into_bytes(),
                    timestamp_ms: n as i64,
                },
                malformed: None,
                position: Position {
                    topic: "orders".into(),
                    partition: 0,
                    next_offset: n + 1,
                },
            }
        })
        .collect()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("EXACTLY_PG_URL")
        .unwrap_or_else(|_| "host=127.0.0.1 user=postgres dbname=test".to_string());
    let schema = format!("example_reservations_{}", std::process::id());
    let result = run(&url, &schema);
    drop_schema(&url, &schema)?;
    result
}

fn run(url: &str, schema: &str) -> Result<(), Box<dyn std::error::Error>> {
    let deliveries = deliveries();
    let open = || -> Result<_, Box<dyn std::error::Error>> {
        let store = PgStore::connect(url, schema, PgOptions::default())?;
        Ok(Endpoint::new(
            Reservations,
            store,
            EndpointConfig::default(),
            Arc::new(SystemClock),
        ))
    };
    let crash_at = deliveries.len() / 2;
    let mut endpoint = open()?;
    for batch in deliveries
        .get(..crash_at)
        .ok_or("too few orders")?
        .chunks(BATCH)
    {
        endpoint.process(batch)?;
    }
    drop(endpoint); // the crash: connection gone, the next endpoint takes over the schema

    let mut endpoint = open()?;
    let redeliver_from = crash_at - REDELIVERED;
    let mut duplicates = 0;
    for batch in deliveries
        .get(redeliver_from..)
        .ok_or("too few orders")?
        .chunks(BATCH)
    {
        duplicates += endpoint.process(batch)?.duplicates;
    }
    drop(endpoint);
    println!("restarted endpoint recognised {duplicates} redelivered orders");
    if duplicates != REDELIVERED as u64 {
        return Err(format!("{duplicates} duplicates, expected {REDELIVERED}").into());
    }

    // The model: every order applied once, in order.
    let mut stock: BTreeMap<String, i64> = BTreeMap::new();
    let mut outgoing = Vec::new();
    for delivery in &deliveries {
        let item = String::from_utf8(delivery.message.key.clone())?;
        let (order, quantity) = parse(&delivery.message.payload)?;
        let left = stock.entry(item.clone()).or_insert(INITIAL_STOCK);
        let topic = if quantity <= *left {
            "reserved"
        } else {
            "rejected"
        };
        if topic == "reserved" {
            *left -= quantity;
        }
        outgoing.push((topic.to_string(), item, format!("{order} {quantity}")));
    }

    // What PostgreSQL holds, read with plain SQL.
    let mut client = postgres::Client::connect(url, postgres::NoTls)?;
    let mut stored_stock = BTreeMap::new();
    for row in client.query(&format!("SELECT key, value FROM {schema}.state"), &[])? {
        let (key, value): (Vec<u8>, Vec<u8>) = (row.get(0), row.get(1));
        let value: [u8; 8] = value.as_slice().try_into()?;
        stored_stock.insert(String::from_utf8(key)?, i64::from_le_bytes(value));
    }
    let mut stored_outbox = Vec::new();
    for row in client.query(
        &format!("SELECT topic, key, payload FROM {schema}.outbox ORDER BY seq"),
        &[],
    )? {
        let (topic, key, payload): (String, Vec<u8>, Vec<u8>) =
            (row.get(0), row.get(1), row.get(2));
        stored_outbox.push((topic, String::from_utf8(key)?, String::from_utf8(payload)?));
    }
    if stored_stock != stock {
        return Err(format!("stock in PostgreSQL {stored_stock:?}, model {stock:?}").into());
    }
    if stored_outbox != outgoing {
        return Err(format!(
            "outbox has {} messages, model {}",
            stored_outbox.len(),
            outgoing.len()
        )
        .into());
    }
    let reserved = outgoing
        .iter()
        .filter(|(topic, _, _)| topic == "reserved")
        .count();
    println!(
        "ok: stock {stored_stock:?}; {reserved} reserved, {} rejected, each once",
        outgoing.len() - reserved
    );
    Ok(())
}
