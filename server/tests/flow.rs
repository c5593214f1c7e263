//! The device and merchant story end to end over loopback HTTP: SQLite always, PostgreSQL
//! when `PAYCODE_TEST_POSTGRES_URL` is set.

mod common;

use common::{Device, Harness, engines, setup, signed_send};
use paycode_core::{Clock, PaymentCode, bundle, wire};
use serde_json::json;

fn reason(body: &serde_json::Value) -> &str {
    body["reason"].as_str().unwrap_or("")
}

#[test]
fn offline_story_replay_superseded_void_expiry() {
    for engine in engines() {
        let h = Harness::new(engine);
        let (user, device, key) = setup(&h, "alice");
        let start = h.balance(&user);

        // A fresh offline code pays.
        let first = device.code(&h, 0);
        let paid = h.pay_ok(&key, &first, 250, "k1");
        assert_eq!(paid["status"], "accepted", "{engine:?}: {paid}");
        assert!(
            paid.get("device_id").is_none() && paid.get("user_id").is_none(),
            "{paid}"
        );
        assert_eq!(paid["code_kind"], "offline");
        assert_eq!(h.balance(&user), start - 250);

        // The same code again, under a new idempotency key: replayed.
        let again = h.pay_ok(&key, &first, 250, "k2");
        assert_eq!(
            (again["status"].as_str(), reason(&again)),
            (Some("declined"), "replayed")
        );

        // Two refreshes; the newer pays first, then the older is superseded.
        let older = device.code(&h, 1);
        let newer = device.code(&h, 2);
        assert_eq!(h.pay_ok(&key, &newer, 100, "k3")["status"], "accepted");
        assert_eq!(reason(&h.pay_ok(&key, &older, 100, "k4")), "superseded");

        // Screenshot of counter 3: the device voids it; the screenshot is then worthless.
        h.clock.advance_secs(5);
        let captured = device.code(&h, 3);
        let step = h.now() as u64 / 60;
        let (status, ack) = device.send(&h, "void", &json!({"step": step, "counter": 3}));
        assert_eq!(status, 200, "{ack}");
        assert_eq!(reason(&h.pay_ok(&key, &captured, 100, "k5")), "voided");
        // The next code of the device still pays (the next step: counter 3 was the step's last
        // of the 4 a protocol-2 credential has, ADR 010).
        h.clock.advance_secs(60);
        assert_eq!(
            h.pay_ok(&key, &device.code(&h, 0), 100, "k6")["status"],
            "accepted"
        );

        // A code of the next minute pays; a code from two minutes ago is outside the window.
        h.clock.advance_secs(60);
        let minute_later = device.code(&h, 0);
        h.clock.advance_secs(120);
        let outside = h.pay_ok(&key, &minute_later, 100, "k7");
        // Outside the window the identity field decrypts to unrelated slots.
        assert!(
            matches!(reason(&outside), "unknown_device" | "bad_otp"),
            "{outside}"
        );

        // Past the credential's validity: the issuer says expired.
        let valid_until = device.credential.valid_until();
        h.clock.set_ms((valid_until + 30) * 1000);
        // The device's table ends with its validity (protocol 2), so the late code is made with
        // the issuer's own keys: a table for the device's slot reaching past valid_until.
        let slot =
            h.rt.block_on(h.state.db.device(&device.id))
                .unwrap()
                .unwrap()
                .slot;
        let longer = paycode_core::LimitedUseCredential::issue(
            h.state.verifier.keyring(),
            paycode_core::TimeParams::default(),
            4,
            slot,
            device.credential.seed().clone(),
            valid_until - 60,
            valid_until + 600,
        )
        .unwrap();
        let late = longer
            .code_for_step(valid_until as u64 / 60 + 1, 0)
            .expect("the longer table covers this step");
        assert_eq!(reason(&h.pay_ok(&key, &late, 100, "k8")), "expired");
        assert!(
            device.credential.code_at(h.now(), 0).is_err(),
            "the device refuses too"
        );

        assert_eq!(h.balance(&user), start - 250 - 100 - 100);
        assert_eq!(h.count("ledger"), 3);
        // Every decline left a rejection record, none with more than the prefix of the code.
        assert_eq!(h.count("rejections"), 5);
    }
}

#[test]
fn online_code_pause_resume_logout() {
    for engine in engines() {
        let h = Harness::new(engine);
        let (user, device, key) = setup(&h, "bob");
        let start = h.balance(&user);

        let (status, online) = device.send(&h, "online-code", &json!({}));
        assert_eq!(status, 200, "{online}");
        let code = online["code"].as_str().unwrap().to_owned();
        assert_eq!(code.len(), 18);
        assert!(code.starts_with("28"));
        assert_eq!(online["expires_at_ms"].as_i64(), Some(h.clock.now_ms() + 60_000));
        let paid = h.pay(&key, &code, 999, "o1").1;
        assert_eq!(
            (paid["status"].as_str(), paid["code_kind"].as_str()),
            (Some("accepted"), Some("online"))
        );
        assert_eq!(reason(&h.pay(&key, &code, 999, "o2").1), "replayed");
        assert_eq!(h.balance(&user), start - 999);

        // An online code left unused for more than 60 s expires.
        let (_, stale) = device.send(&h, "online-code", &json!({}));
        h.clock.advance_secs(61);
        assert_eq!(
            reason(&h.pay(&key, stale["code"].as_str().unwrap(), 1, "o3").1),
            "expired"
        );

        // Kill switch.
        assert_eq!(device.send(&h, "pause", &json!({})).0, 200);
        assert_eq!(reason(&h.pay_ok(&key, &device.code(&h, 0), 5, "p1")), "paused");
        let (status, body) = device.send(&h, "online-code", &json!({}));
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (403, Some("device_paused"))
        );
        assert_eq!(device.send(&h, "resume", &json!({})).0, 200);
        assert_eq!(h.pay_ok(&key, &device.code(&h, 1), 5, "p2")["status"], "accepted");

        // Logout: the seed is gone, codes and online codes are dead, requests are refused.
        let (_, live_online) = device.send(&h, "online-code", &json!({}));
        let before_logout = device.code(&h, 2);
        assert_eq!(device.send(&h, "logout", &json!({})).0, 200);
        let dead = h.pay_ok(&key, &before_logout, 5, "l1");
        assert_eq!(
            (dead["status"].as_str(), reason(&dead)),
            (Some("declined"), "unknown_device")
        );
        assert_eq!(
            reason(&h.pay_ok(&key, &device.code(&h, 3), 5, "l2")),
            "unknown_device"
        );
        assert_eq!(
            h.pay(&key, live_online["code"].as_str().unwrap(), 5, "l3").1["status"],
            "declined"
        );
        let (status, body) = device.send(&h, "sync", &json!({"sequence": 1, "valid_until": 0}));
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (403, Some("device_revoked"))
        );
        let seeds: i64 = h.rt.block_on(async {
            sqlx::query_scalar("SELECT COUNT(*) FROM devices WHERE seed IS NOT NULL")
                .fetch_one(&h.state.db.read)
                .await
                .unwrap()
        });
        assert_eq!(seeds, 0, "the seed is wiped at logout");
        assert_eq!(h.balance(&user), start - 999 - 5);
    }
}

#[test]
fn sync_tops_up_and_rotates_sequence() {
    for engine in engines() {
        let h = Harness::new(engine);
        let (_, mut device, key) = setup(&h, "carol");
        let body = |d: &Device| json!({"sequence": d.sequence, "valid_until": d.credential.valid_until()});

        // Fresh credentials: nothing new, but the issuer's time and status.
        let (status, answer) = device.send(&h, "sync", &body(&device));
        assert_eq!(status, 200, "{answer}");
        assert!(answer.get("bundle").is_none());
        assert_eq!(answer["status"], "active");
        assert_eq!(answer["issuer_time_ms"].as_i64(), Some(h.clock.now_ms()));

        // Six days later less than two days are left: a new bundle with a higher sequence.
        h.clock.advance_secs(6 * 86_400);
        let (status, answer) = device.send(&h, "sync", &body(&device));
        assert_eq!(status, 200, "{answer}");
        let bytes = wire::unb64(answer["bundle"].as_str().unwrap()).unwrap();
        let opened = bundle::open(&bytes, &device.secret).unwrap();
        assert_eq!(opened.header.sequence, 2);
        assert_eq!(opened.credential.valid_until(), h.now() + 7 * 86_400);
        device.credential = opened.credential;
        device.sequence = 2;
        // The renewed credential pays, and so does one made a week later.
        assert_eq!(h.pay_ok(&key, &device.code(&h, 0), 1, "s1")["status"], "accepted");
        h.clock.advance_secs(6 * 86_400);
        assert_eq!(h.pay_ok(&key, &device.code(&h, 0), 1, "s2")["status"], "accepted");
    }
}

#[test]
fn idempotency_keys_make_retries_safe() {
    for engine in engines() {
        let h = Harness::new(engine);
        let (user, device, key) = setup(&h, "dave");
        let start = h.balance(&user);
        let code = device.code(&h, 0);
        let first = h.pay_ok(&key, &code, 700, "retry-me");
        let second = h.pay_ok(&key, &code, 700, "retry-me");
        assert_eq!(first, second, "same key, same request: the same stored answer");
        assert_eq!(first["status"], "accepted");
        assert_eq!(h.balance(&user), start - 700, "one debit");
        let (status, conflict) = h.pay(&key, &code.digits(), 701, "retry-me");
        assert_eq!(
            (status, conflict["error"]["code"].as_str()),
            (409, Some("idempotency_conflict"))
        );
        // Keys are per merchant: another merchant's same key is a new payment (here a replay).
        let other = h.merchant("other shop");
        assert_eq!(reason(&h.pay_ok(&other, &code, 700, "retry-me")), "replayed");
        // The payment can be read back by its merchant only.
        let id = first["payment_id"].as_str().unwrap();
        let (status, read) = h.get(&format!("/v1/payments/{id}"), &key);
        assert_eq!((status, &read), (200, &first));
        assert_eq!(h.get(&format!("/v1/payments/{id}"), &other).0, 404);
        assert_eq!(h.count("ledger"), 1);
    }
}

#[test]
fn concurrent_redemption_of_one_code_succeeds_once() {
    for engine in engines() {
        let h = Harness::new(engine);
        let (user, device, key) = setup(&h, "erin");
        let start = h.balance(&user);
        let code = device.code(&h, 0).digits();
        let barrier = std::sync::Barrier::new(64);
        let answers: Vec<serde_json::Value> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..64)
                .map(|i| {
                    let (h, code, key, barrier) = (&h, &code, &key, &barrier);
                    s.spawn(move || {
                        barrier.wait();
                        let (status, body) = h.pay(key, code, 10, &format!("race-{i}"));
                        assert_eq!(status, 200, "{body}");
                        body
                    })
                })
                .collect();
            handles.into_iter().map(|t| t.join().unwrap()).collect()
        });
        let accepted = answers.iter().filter(|a| a["status"] == "accepted").count();
        assert_eq!(
            accepted, 1,
            "{engine:?}: exactly one of 64 concurrent redemptions"
        );
        assert!(
            answers
                .iter()
                .filter(|a| a["status"] == "declined")
                .all(|a| reason(a) == "replayed")
        );
        assert_eq!(h.balance(&user), start - 10);
        assert_eq!(h.count("payments"), 64);
        assert_eq!(h.count("ledger"), 1);
    }
}

#[test]
fn concurrent_retries_with_one_key_debit_once() {
    for engine in engines() {
        let h = Harness::new(engine);
        let (user, device, key) = setup(&h, "frank");
        let start = h.balance(&user);
        let code = device.code(&h, 0).digits();
        let barrier = std::sync::Barrier::new(64);
        let answers: Vec<serde_json::Value> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..64)
                .map(|_| {
                    let (h, code, key, barrier) = (&h, &code, &key, &barrier);
                    s.spawn(move || {
                        barrier.wait();
                        let (status, body) = h.pay(key, code, 33, "one-key");
                        assert_eq!(status, 200, "{body}");
                        body
                    })
                })
                .collect();
            handles.into_iter().map(|t| t.join().unwrap()).collect()
        });
        assert!(
            answers.iter().all(|a| a == &answers[0]),
            "every retry gets the one stored answer"
        );
        assert_eq!(answers[0]["status"], "accepted");
        assert_eq!(h.balance(&user), start - 33);
        assert_eq!(h.count("payments"), 1);
        assert_eq!(h.count("ledger"), 1);
    }
}

#[test]
fn device_requests_are_authenticated() {
    for engine in engines() {
        let h = Harness::new(engine);
        let (_, device, _) = setup(&h, "gina");
        let path = wire::device_path(&device.id, "pause");
        let now = h.clock.now_ms();
        // Replaying a signed request.
        let body = b"{}".to_vec();
        assert_eq!(
            signed_send(&h, &device.secret, &device.id, &path, body.clone(), now).0,
            200
        );
        let (status, err) = signed_send(&h, &device.secret, &device.id, &path, body.clone(), now);
        assert_eq!(
            (status, err["error"]["code"].as_str()),
            (401, Some("replayed_request"))
        );
        // Too far from the issuer's clock.
        let (status, err) = signed_send(&h, &device.secret, &device.id, &path, body.clone(), now - 301_000);
        assert_eq!(
            (status, err["error"]["code"].as_str()),
            (401, Some("stale_timestamp"))
        );
        // Another device's key.
        let stranger = paycode_core::device::DeviceSecret::from_bytes([7; 32]);
        let (status, err) = signed_send(&h, &stranger, &device.id, &path, body, now + 1);
        assert_eq!(
            (status, err["error"]["code"].as_str()),
            (401, Some("bad_signature"))
        );
        // Unsigned.
        let (status, err) = h.post(&path, None, &json!({}));
        assert_eq!(
            (status, err["error"]["code"].as_str()),
            (401, Some("missing_signature"))
        );
        // A login token works once.
        let token = h.login("gina");
        let secret = paycode_core::device::DeviceSecret::from_bytes([8; 32]);
        assert_eq!(common::provision_request(&h, &secret, &token).0, 200);
        h.clock.advance_ms(1);
        let (status, err) = common::provision_request(&h, &secret, &token);
        assert_eq!(
            (status, err["error"]["code"].as_str()),
            (401, Some("invalid_login_token"))
        );
        // Each provisioning makes a new device in its own random slot.
        let slots: Vec<i64> = h.rt.block_on(async {
            sqlx::query_scalar("SELECT slot FROM devices")
                .fetch_all(&h.state.db.read)
                .await
                .unwrap()
        });
        assert_eq!(slots.len(), 2);
        assert_ne!(slots[0], slots[1]);
    }
}

#[test]
fn codes_of_other_issuers_and_wrong_passwords_are_refused() {
    let h = Harness::new(common::Engine::Sqlite);
    let (_, device, key) = setup(&h, "hana");
    let mut digits = device.code(&h, 0).digits();
    digits.replace_range(0..2, "27");
    let foreign = PaymentCode::parse(&digits).unwrap();
    assert_eq!(reason(&h.pay_ok(&key, &foreign, 1, "f1")), "unknown_prefix");
    let (status, err) = h.post(
        "/v1/login",
        None,
        &json!({"username": "hana", "password": "wrong password"}),
    );
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (401, Some("invalid_login"))
    );
    let (status, err) = h.post(
        "/v1/users",
        None,
        &json!({"username": "hana", "password": "another one"}),
    );
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (409, Some("username_taken"))
    );
    let (status, err) = h.pay("pck_not-a-key", &digits, 1, "x");
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (401, Some("unauthorized"))
    );
}
