//! Bad input of every kind gets a 4xx JSON `ErrorBody` and writes nothing; limits engage.

mod common;

use common::{Device, Engine, Harness, engines, setup, test_config};
use paycode_core::PaymentCode;
use paycode_server::ratelimit::RateLimits;
use serde_json::{Value, json};

const TABLES: [&str; 8] = [
    "users",
    "devices",
    "payments",
    "ledger",
    "rejections",
    "online_codes",
    "seen_signatures",
    "login_tokens",
];

fn snapshot(h: &Harness) -> Vec<i64> {
    TABLES.iter().map(|t| h.count(t)).collect()
}

fn assert_error(status: u16, body: &Value, expected_status: u16, expected_code: &str, case: &str) {
    assert_eq!(status, expected_status, "{case}: {body}");
    assert_eq!(
        body["error"]["code"].as_str(),
        Some(expected_code),
        "{case}: {body}"
    );
    assert!(
        !body["error"]["message"].as_str().unwrap_or("").is_empty(),
        "{case}: a message explains"
    );
}

#[test]
fn bad_payment_requests_are_4xx_json_and_write_nothing() {
    for engine in engines() {
        let h = Harness::new(engine);
        let (_, device, key) = setup(&h, "ivy");
        let code = device.code(&h, 0).digits();
        let auth = format!("Bearer {key}");
        let full_width: String = code
            .chars()
            .map(|c| char::from_u32(0xFF10 + c.to_digit(10).unwrap()).unwrap())
            .collect();
        let arabic: String = code
            .chars()
            .map(|c| char::from_u32(0x0660 + c.to_digit(10).unwrap()).unwrap())
            .collect();
        let devanagari: String = code
            .chars()
            .map(|c| char::from_u32(0x0966 + c.to_digit(10).unwrap()).unwrap())
            .collect();
        let nested = format!("{{\"code\": {}{}}}", "[".repeat(5_000), "]".repeat(5_000));
        let huge = format!(
            "{{\"code\": \"{code}\", \"amount\": 1, \"currency\": \"EUR\", \"idempotency_key\": \"{}\"}}",
            "x".repeat(1 << 20)
        );
        let ok = |overrides: Value| {
            let mut body =
                json!({"code": code, "amount": 100, "currency": "EUR", "idempotency_key": "bad-1"});
            for (k, v) in overrides.as_object().unwrap() {
                if v.is_null() {
                    body.as_object_mut().unwrap().remove(k);
                } else {
                    body[k] = v.clone();
                }
            }
            body.to_string()
        };
        let cases: Vec<(&str, String, u16, &str)> = vec![
            (
                "amount as string",
                ok(json!({"amount": "100"})),
                400,
                "invalid_body",
            ),
            ("amount as float", ok(json!({"amount": 1.5})), 400, "invalid_body"),
            (
                "amount beyond i64",
                ok(json!({"amount": 1e30})),
                400,
                "invalid_body",
            ),
            (
                "code as number",
                ok(json!({"code": 281234567890123456u64})),
                400,
                "invalid_body",
            ),
            (
                "missing currency",
                ok(json!({"currency": null})),
                400,
                "invalid_body",
            ),
            ("missing code", ok(json!({"code": null})), 400, "invalid_body"),
            ("unknown field", ok(json!({"tip": 5})), 400, "invalid_body"),
            ("body is an array", "[]".into(), 400, "invalid_body"),
            ("body is null", "null".into(), 400, "invalid_body"),
            ("empty body", String::new(), 400, "invalid_json"),
            ("not JSON", "code=1&amount=2".into(), 400, "invalid_json"),
            ("truncated JSON", "{\"code\": \"28".into(), 400, "invalid_json"),
            ("deeply nested", nested, 400, "invalid_body"),
            ("1 MiB body", huge, 413, "payload_too_large"),
            ("zero amount", ok(json!({"amount": 0})), 422, "invalid_amount"),
            (
                "negative amount",
                ok(json!({"amount": -5})),
                422,
                "invalid_amount",
            ),
            (
                "lowercase currency",
                ok(json!({"currency": "eur"})),
                422,
                "invalid_currency",
            ),
            (
                "long currency",
                ok(json!({"currency": "EURO"})),
                422,
                "invalid_currency",
            ),
            (
                "empty idempotency key",
                ok(json!({"idempotency_key": ""})),
                422,
                "invalid_idempotency_key",
            ),
            (
                "long idempotency key",
                ok(json!({"idempotency_key": "k".repeat(129)})),
                422,
                "invalid_idempotency_key",
            ),
            (
                "17 digits",
                ok(json!({"code": &code[..17]})),
                422,
                "malformed_code",
            ),
            (
                "19 digits",
                ok(json!({"code": format!("{code}1")})),
                422,
                "malformed_code",
            ),
            (
                "letters",
                ok(json!({"code": format!("{}O", &code[..17])})),
                422,
                "malformed_code",
            ),
            (
                "full-width digits",
                ok(json!({"code": full_width})),
                422,
                "malformed_code",
            ),
            (
                "arabic-indic digits",
                ok(json!({"code": arabic})),
                422,
                "malformed_code",
            ),
            (
                "leading zero prefix",
                ok(json!({"code": format!("0{}", &code[1..])})),
                422,
                "malformed_code",
            ),
            (
                "tab inside",
                ok(json!({"code": format!("{}\t{}", &code[..4], &code[4..])})),
                422,
                "malformed_code",
            ),
            (
                "no-break spaces",
                ok(json!({"code": format!("{}\u{a0}{}", &code[..4], &code[4..])})),
                422,
                "malformed_code",
            ),
            (
                "narrow no-break space",
                ok(json!({"code": format!("{}\u{202f}{}", &code[..4], &code[4..])})),
                422,
                "malformed_code",
            ),
            (
                "ideographic space",
                ok(json!({"code": format!("{}\u{3000}{}", &code[..4], &code[4..])})),
                422,
                "malformed_code",
            ),
            (
                "newline inside",
                ok(json!({"code": format!("{}\n{}", &code[..4], &code[4..])})),
                422,
                "malformed_code",
            ),
            (
                "trailing CR LF",
                ok(json!({"code": format!("{code}\r\n")})),
                422,
                "malformed_code",
            ),
            (
                "zero-width space",
                ok(json!({"code": format!("{}\u{200b}{}", &code[..4], &code[4..])})),
                422,
                "malformed_code",
            ),
            (
                "en dash",
                ok(json!({"code": format!("{}\u{2013}{}", &code[..4], &code[4..])})),
                422,
                "malformed_code",
            ),
            (
                "NUL inside",
                ok(json!({"code": format!("{}\u{0}{}", &code[..4], &code[4..])})),
                422,
                "malformed_code",
            ),
            (
                "one arabic-indic digit among ascii",
                ok(
                    json!({"code": format!("{}{}", &code[..17], char::from_u32(0x0660 + code[17..].parse::<u32>().unwrap()).unwrap())}),
                ),
                422,
                "malformed_code",
            ),
            (
                "devanagari digits",
                ok(json!({"code": devanagari})),
                422,
                "malformed_code",
            ),
            (
                "superscript digits",
                ok(
                    json!({"code": code.chars().map(|c| match c { '1' => '¹', '2' => '²', '3' => '³', other => other }).collect::<String>()}),
                ),
                422,
                "malformed_code",
            ),
            (
                "very long code",
                ok(json!({"code": "1".repeat(5000)})),
                422,
                "malformed_code",
            ),
            (
                "someone else's merchant id",
                ok(json!({"merchant_id": "mer_x"})),
                403,
                "merchant_mismatch",
            ),
        ];
        let before = snapshot(&h);
        for (case, body, status, code) in &cases {
            let (got, answer) = h.post_raw(
                "/v1/payments",
                &[("content-type", "application/json"), ("authorization", &auth)],
                body.as_bytes(),
            );
            assert_error(got, &answer, *status, code, case);
        }
        // Without or with a wrong key.
        let (got, answer) = h.post_raw("/v1/payments", &[], ok(json!({})).as_bytes());
        assert_error(got, &answer, 401, "unauthorized", "no key");
        let (got, answer) = h.post_raw(
            "/v1/payments",
            &[("authorization", "Basic abc")],
            ok(json!({})).as_bytes(),
        );
        assert_error(got, &answer, 401, "unauthorized", "basic auth");
        assert_eq!(snapshot(&h), before, "{engine:?}: bad requests wrote nothing");
        // The code is intact: it still pays.
        let code = PaymentCode::parse(&code).unwrap();
        assert_eq!(h.pay_ok(&key, &code, 1, "good")["status"], "accepted");
    }
}

#[test]
fn bad_device_and_user_requests_are_4xx_json_and_write_nothing() {
    let h = Harness::new(Engine::Sqlite);
    let (_, device, _) = setup(&h, "jo");
    let before = snapshot(&h);
    let cases: Vec<(&str, Value, u16, &str)> = vec![
        (
            "sync with string sequence",
            json!({"sequence": "1", "valid_until": 0}),
            400,
            "invalid_body",
        ),
        ("sync missing field", json!({"sequence": 1}), 400, "invalid_body"),
        (
            "sync negative sequence",
            json!({"sequence": -1, "valid_until": 0}),
            400,
            "invalid_body",
        ),
        (
            "sync unknown field",
            json!({"sequence": 1, "valid_until": 0, "x": 1}),
            400,
            "invalid_body",
        ),
    ];
    for (case, body, status, code) in &cases {
        let (got, answer) = device.send(&h, "sync", body);
        assert_error(got, &answer, *status, code, case);
    }
    let (got, answer) = device.send(&h, "void", &json!({"step": 1, "counter": 300}));
    assert_error(got, &answer, 400, "invalid_body", "void counter beyond u8");
    let (got, answer) = device.send(&h, "pause", &json!({"please": true}));
    assert_error(got, &answer, 400, "invalid_body", "pause with a field");
    let (got, answer) = h.post_raw("/v1/devices", &[], b"{\"login_token\": 5}");
    assert_error(got, &answer, 400, "invalid_body", "provision with wrong types");
    let bad_keys = json!({"login_token": "x", "signing_key": "AAAA", "sealing_key": "AAAA", "platform": "p"});
    let (got, answer) = h.post("/v1/devices", None, &bad_keys);
    assert_error(got, &answer, 422, "invalid_field", "provision with short keys");
    let (got, answer) = h.post(
        "/v1/users",
        None,
        &json!({"username": "a b", "password": "long enough"}),
    );
    assert_error(got, &answer, 422, "invalid_field", "username with a space");
    let (got, answer) = h.post("/v1/users", None, &json!({"username": "ok", "password": "short"}));
    assert_error(got, &answer, 422, "invalid_field", "short password");
    let (got, answer) = h.post("/v1/admin/merchants", Some("wrong"), &json!({"name": "x"}));
    assert_error(got, &answer, 401, "unauthorized", "wrong admin token");
    let (got, answer) = h.post("/v1/nowhere", None, &json!({}));
    assert_error(got, &answer, 404, "not_found", "unknown path");
    let (got, answer) = h.get("/v1/payments/pay_nothing", "pck_nobody");
    assert_error(got, &answer, 401, "unauthorized", "read with a wrong key");
    let mut resp = h.http.get(format!("{}/v1/payments", h.base)).call().unwrap();
    let answer: Value = resp.body_mut().read_json().unwrap();
    assert_error(
        resp.status().as_u16(),
        &answer,
        405,
        "method_not_allowed",
        "GET on a POST path",
    );
    assert_eq!(snapshot(&h), before, "bad requests wrote nothing");
}

fn limited(limits: RateLimits) -> Harness {
    Harness::with_config(
        Engine::Sqlite,
        paycode_server::Config {
            limits,
            ..test_config()
        },
    )
}

/// A code of `device` with a wrong OTP: it decrypts to the device's slot, so it is a guess at it.
fn wrong_otp(h: &Harness, device: &Device, counter: u8) -> String {
    let mut digits = device.code(h, counter).digits();
    let last = digits.pop().unwrap();
    digits.push(if last == '9' {
        '0'
    } else {
        char::from(last as u8 + 1)
    });
    digits
}

#[test]
fn merchant_lockout_engages_and_lifts() {
    let h = limited(RateLimits {
        merchant_failures: 5,
        ..test_config().limits
    });
    let (_, device, key) = setup(&h, "kim");
    let clean = h.merchant("clean shop");
    for i in 0..5 {
        let (status, body) = h.pay(
            &key,
            &format!("28{:016}", 1234567890123456u64 + i),
            1,
            &format!("g{i}"),
        );
        assert_eq!(
            (status, body["status"].as_str()),
            (200, Some("declined")),
            "{body}"
        );
    }
    let asked = std::time::Instant::now();
    let (status, body) = h.pay(&key, &device.code(&h, 0).digits(), 1, "after");
    let waited = asked.elapsed();
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (429, Some("rate_limited")),
        "{body}"
    );
    // The tarpit: a refused merchant waits for its answer (a lower bound, safe on a slow machine).
    let delay = std::time::Duration::from_millis(RateLimits::default().refusal_delay_ms);
    assert!(
        waited >= delay,
        "429 after {waited:?}, before the {delay:?} refusal delay"
    );
    assert_eq!(h.count("rejections"), 5, "each failed guess recorded");
    let prefixes: Vec<String> = h.rt.block_on(async {
        sqlx::query_scalar("SELECT code_prefix FROM rejections")
            .fetch_all(&h.state.db.read)
            .await
            .unwrap()
    });
    assert!(
        prefixes.iter().all(|p| p == "28"),
        "only the prefix of a code is kept"
    );
    // Other merchants are not affected; the lockout lifts after 5 minutes.
    assert_eq!(
        h.pay_ok(&clean, &device.code(&h, 0), 1, "c1")["status"],
        "accepted"
    );
    h.clock.advance_secs(301);
    assert_eq!(
        h.pay_ok(&key, &device.code(&h, 0), 1, "later")["status"],
        "accepted"
    );
}

#[test]
fn slot_lockout_hides_the_answer_to_guesses() {
    let h = limited(RateLimits {
        slot_failures: 3,
        ..test_config().limits
    });
    let (_, device, key) = setup(&h, "lee");
    for i in 0..3 {
        let body = h.pay(&key, &wrong_otp(&h, &device, 0), 1, &format!("w{i}")).1;
        assert_eq!(body["reason"], "bad_otp", "{body}");
    }
    // Locked: even the right code gets no answer about its OTP.
    let right = device.code(&h, 0);
    assert_eq!(h.pay_ok(&key, &right, 1, "r1")["reason"], "slot_locked");
    h.clock.advance_secs(301);
    assert_eq!(h.pay_ok(&key, &device.code(&h, 0), 1, "r2")["status"], "accepted");
}

#[test]
fn global_threshold_stops_failing_merchants_only() {
    let h = limited(RateLimits {
        global_failures: 6,
        ..test_config().limits
    });
    let (_, device, _) = setup(&h, "max");
    let keys: Vec<String> = (0..3).map(|i| h.merchant(&format!("m{i}"))).collect();
    for (i, key) in keys.iter().enumerate() {
        for j in 0..2 {
            let guess = format!("28{:016}", 4_000_000_000_000_000u64 + (i * 10 + j) as u64);
            assert_eq!(h.pay(key, &guess, 1, &format!("g{j}")).0, 200);
        }
    }
    let (status, body) = h.pay(&keys[0], &device.code(&h, 0).digits(), 1, "next");
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (429, Some("rate_limited"))
    );
    let clean = h.merchant("clean");
    assert_eq!(
        h.pay_ok(&clean, &device.code(&h, 0), 1, "ok")["status"],
        "accepted"
    );
}

/// A raw HTTP/1.1 request over a fresh socket: for what ureq will not send (chunked bodies).
fn raw_request(h: &Harness, head: &str, body: &[u8]) -> (u16, Value) {
    use std::io::{Read, Write};
    let addr = h.base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    let mut request = head.as_bytes().to_vec();
    request.extend_from_slice(body);
    // The issuer may answer and close before reading everything: keep what it said.
    let _ = stream.write_all(&request);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP answer: {text:?}"));
    let json = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    // A chunked answer would need decoding; the issuer answers errors with a length.
    (
        status,
        serde_json::from_str(json).unwrap_or_else(|_| panic!("non-JSON answer: {text:?}")),
    )
}

fn chunked(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for chunk in body.chunks(8192) {
        out.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        out.extend_from_slice(chunk);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

#[test]
fn hostile_bodies_on_every_endpoint_are_4xx_json_and_write_nothing() {
    let h = Harness::new(Engine::Sqlite);
    let (_, device, key) = setup(&h, "nia");
    let code = device.code(&h, 0);
    let valid_payment =
        json!({"code": code.digits(), "amount": 5, "currency": "EUR", "idempotency_key": "hostile"})
            .to_string();
    let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
    let deep_objects = format!("{}1{}", "{\"username\":".repeat(1_200), "}".repeat(1_200));
    let admin = format!("Bearer {}", common::ADMIN);
    let merchant = format!("Bearer {key}");
    let sync_path = format!("/v1/devices/{}/sync", device.id);
    let endpoints: Vec<(&str, Option<&str>)> = vec![
        ("/v1/users", None),
        ("/v1/login", None),
        ("/v1/admin/merchants", Some(&admin)),
        ("/v1/devices", None),
        (&sync_path, None),
        ("/v1/payments", Some(&merchant)),
    ];
    let json_type = "application/json";
    // (case, content type, body, status, acceptable error codes)
    type Case<'a> = (&'a str, &'a str, Vec<u8>, u16, &'a [&'a str]);
    let bodies: Vec<Case> = vec![
        (
            "100,000 nested arrays",
            json_type,
            deep(100_000).into_bytes(),
            413,
            &["payload_too_large"],
        ),
        (
            "7,000 nested arrays",
            json_type,
            deep(7_000).into_bytes(),
            400,
            &["invalid_body", "invalid_json"],
        ),
        (
            "1,200 nested objects",
            json_type,
            deep_objects.into_bytes(),
            400,
            &["invalid_body", "invalid_json"],
        ),
        (
            "non-UTF-8 in a string",
            json_type,
            b"{\"\xff\xfe\xc0\x80\": 1}".to_vec(),
            400,
            &["invalid_json"],
        ),
        (
            "raw binary",
            json_type,
            (0u8..=255).rev().collect(),
            400,
            &["invalid_json"],
        ),
        (
            "UTF-16 JSON",
            json_type,
            "{\"name\": \"x\"}"
                .encode_utf16()
                .flat_map(u16::to_le_bytes)
                .collect(),
            400,
            &["invalid_json"],
        ),
        (
            "lone surrogate escape",
            json_type,
            b"{\"\\ud800\": 1}".to_vec(),
            400,
            &["invalid_json"],
        ),
        (
            "text/plain",
            "text/plain",
            valid_payment.clone().into_bytes(),
            415,
            &["unsupported_media_type"],
        ),
        (
            "form",
            "application/x-www-form-urlencoded",
            b"code=1&amount=2".to_vec(),
            415,
            &["unsupported_media_type"],
        ),
        (
            "multipart",
            "multipart/form-data; boundary=x",
            valid_payment.clone().into_bytes(),
            415,
            &["unsupported_media_type"],
        ),
        (
            "JSON in UTF-16",
            "application/json; charset=utf-16",
            valid_payment.clone().into_bytes(),
            415,
            &["unsupported_media_type"],
        ),
    ];
    let before = snapshot(&h);
    for (path, auth) in &endpoints {
        for (case, content_type, body, status, codes) in &bodies {
            let mut headers = vec![("content-type", *content_type)];
            if let Some(a) = auth {
                headers.push(("authorization", a));
            }
            let (got, answer) = h.post_raw(path, &headers, body);
            let case = format!("{path}, {case}");
            assert_eq!(got, *status, "{case}: {answer}");
            let code = answer["error"]["code"].as_str().unwrap_or("");
            assert!(codes.contains(&code), "{case}: {answer}");
            assert!(
                !answer["error"]["message"].as_str().unwrap_or("").is_empty(),
                "{case}"
            );
        }
        // The same 200 KB of nesting with no declared length (chunked).
        let auth = auth.map_or(String::new(), |a| format!("authorization: {a}\r\n"));
        let head = format!(
            "POST {path} HTTP/1.1\r\nhost: x\r\n{auth}content-type: application/json\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n"
        );
        let (got, answer) = raw_request(&h, &head, &chunked(deep(100_000).as_bytes()));
        assert_error(
            got,
            &answer,
            413,
            "payload_too_large",
            &format!("{path}, chunked nesting"),
        );
    }
    assert_eq!(snapshot(&h), before, "hostile bodies wrote nothing");
    // A missing Content-Type is taken as JSON; the code was never spent.
    let (status, paid) = h.post_raw(
        "/v1/payments",
        &[("authorization", &merchant)],
        valid_payment.as_bytes(),
    );
    assert_eq!(
        (status, paid["status"].as_str()),
        (200, Some("accepted")),
        "{paid}"
    );
}
