//! Merchants learn nothing that identifies a customer from the issuer's answers (docs/API.md
//! "Payment answers", SECURITY.md): two merchants, one user with two devices paying with
//! offline and online codes at both; the answers have exactly the documented fields and share
//! no value that could link the payments of one customer — not within one merchant, not across
//! merchants. SQLite and PostgreSQL.

mod common;

use std::collections::{BTreeSet, HashMap};

use common::{Device, Harness, engines};
use serde_json::{Value, json};

const FIELDS: [&str; 10] = [
    "payment_id",
    "status",
    "reason",
    "message",
    "merchant_id",
    "idempotency_key",
    "amount",
    "currency",
    "code_kind",
    "created_at_ms",
];

/// Every string anywhere in `value`.
fn strings(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) => out.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|v| strings(v, out)),
        Value::Object(map) => map.values().for_each(|v| strings(v, out)),
        _ => {}
    }
}

#[test]
fn payment_answers_name_no_customer_and_link_nothing() {
    for engine in engines() {
        let h = Harness::new(engine);
        let user = h.user("carol");
        let phone = Device::provision(&h, &h.login("carol"));
        let tablet = Device::provision(&h, &h.login("carol"));
        let shops = [h.merchant("shop a"), h.merchant("shop b")];

        let mut answers: Vec<(usize, Value)> = Vec::new();
        let mut n = 0;
        for (i, device) in [&phone, &tablet].into_iter().enumerate() {
            for (s, shop) in shops.iter().enumerate() {
                // An offline code, then an online code, of this device at this shop.
                h.clock.advance_secs(61);
                let offline = h.pay_ok(shop, &device.code(&h, 0), 100 + n, &format!("k{n}"));
                n += 1;
                assert_eq!(offline["code_kind"], "offline", "{engine:?}: {offline}");
                let (status, online) = device.send(&h, "online-code", &json!({}));
                assert_eq!(status, 200, "{online}");
                let (status, paid) = h.pay(shop, online["code"].as_str().unwrap(), 100 + n, &format!("k{n}"));
                n += 1;
                assert_eq!(status, 200, "{paid}");
                assert_eq!(paid["code_kind"], "online", "{engine:?}: {paid}");
                for answer in [offline, paid] {
                    assert_eq!(answer["status"], "accepted", "{engine:?} device {i}: {answer}");
                    answers.push((s, answer));
                }
            }
        }
        // The stored answer read back is the same shape.
        let first_id = answers[0].1["payment_id"].as_str().unwrap().to_owned();
        let (status, read_back) = h.get(&format!("/v1/payments/{first_id}"), &shops[0]);
        assert_eq!(status, 200, "{read_back}");
        answers.push((0, read_back));
        // A declined answer too.
        h.clock.advance_ms(1);
        let (_, declined) = h.pay(&shops[1], "281234567890123456", 1, "guess");
        assert_eq!(declined["status"], "declined", "{declined}");
        answers.push((1, declined));

        let expected: BTreeSet<&str> = FIELDS.into_iter().collect();
        let customer = [user.as_str(), phone.id.as_str(), tablet.id.as_str(), "carol"];
        // Value → the payments (by id) it appears in, per field.
        let mut seen: HashMap<(String, String), BTreeSet<String>> = HashMap::new();
        for (shop, answer) in &answers {
            let fields: BTreeSet<&str> = answer.as_object().unwrap().keys().map(String::as_str).collect();
            assert_eq!(
                fields, expected,
                "{engine:?}: exactly the documented fields: {answer}"
            );
            let mut texts = Vec::new();
            strings(answer, &mut texts);
            for text in &texts {
                for id in customer {
                    assert!(!text.contains(id), "{engine:?}: answer carries {id}: {answer}");
                }
            }
            for field in ["payment_id", "idempotency_key", "created_at_ms"] {
                let value = answer[field].to_string();
                seen.entry((field.to_owned(), value))
                    .or_default()
                    .insert(format!("{shop}/{}", answer["payment_id"]));
            }
        }
        // Per-payment values are never shared by two different payments (the read-back of a
        // payment is the same payment).
        for ((field, value), payments) in &seen {
            assert_eq!(
                payments.len(),
                1,
                "{engine:?}: {field} {value} links {payments:?}"
            );
        }
        // The only fields whose values repeat are the documented non-identifying ones:
        // status, reason, message, merchant (the merchant's own id), amount, currency, kind.
        let ids: BTreeSet<&str> = answers
            .iter()
            .map(|(_, a)| a["payment_id"].as_str().unwrap())
            .collect();
        assert_eq!(
            ids.len(),
            answers.len() - 1,
            "{engine:?}: one payment id per payment"
        );
    }
}
