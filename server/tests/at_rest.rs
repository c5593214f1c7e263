//! What an insider who can read the issuer's database finds: no seed, no device or issuer key,
//! no password, token, API key or full payment code — in SQLite's files as they are on disk
//! (main file and write-ahead log, deleted rows included) and in every row of every table on
//! PostgreSQL. Seeds are sealed under a key derived from the issuer secret, which is not in the
//! database (server/src/seeds.rs).

mod common;

use std::collections::HashSet;

use base64::Engine as _;
use common::{ADMIN, Device, Engine, Harness, engines, test_config};
use paycode_server::storm::find_leaks;
use paycode_server::util::hex;
use serde_json::json;

/// Every table's rows as text (PostgreSQL renders `bytea` as `\x` hex).
fn postgres_rows(h: &Harness) -> String {
    h.rt.block_on(async {
        let tables: Vec<String> = sqlx::query_scalar(
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public'",
        )
        .fetch_all(&h.state.db.read)
        .await
        .unwrap();
        let mut out = String::new();
        for table in tables {
            let rows: Vec<String> = sqlx::query_scalar(&format!("SELECT t::text FROM {table} t"))
                .fetch_all(&h.state.db.read)
                .await
                .unwrap();
            out.push_str(&format!("{table}: {}\n", rows.join("\n")));
        }
        out
    })
}

#[test]
fn the_database_holds_no_secret_in_clear() {
    for engine in engines() {
        let h = Harness::new(engine);
        let mut raw: Vec<[u8; 32]> = Vec::new();
        let mut texts: Vec<String> = vec![ADMIN.to_owned(), "correct horse".to_owned()];
        let mut codes: HashSet<String> = HashSet::new();
        h.user("pat");
        let token = h.login("pat");
        texts.push(token.clone());
        let mut devices = Vec::new();
        for _ in 0..2 {
            let token = h.login("pat");
            texts.push(token.clone());
            let device = Device::provision(&h, &token);
            raw.push(*device.secret.expose_secret());
            raw.push(*device.credential.seed().expose_secret());
            devices.push(device);
        }
        let key = h.merchant("shop");
        texts.push(key.clone());
        for (i, device) in devices.iter().enumerate() {
            let code = device.code(&h, 0);
            codes.insert(code.digits());
            assert_eq!(h.pay_ok(&key, &code, 10, &format!("p{i}"))["status"], "accepted");
        }
        let (_, online) = devices[0].send(&h, "online-code", &json!({}));
        let online = online["code"].as_str().unwrap().to_owned();
        codes.insert(online.clone());
        assert_eq!(h.pay(&key, &online, 7, "o1").1["status"], "accepted");
        // One device logs out (its sealed seed is deleted), the other stays active.
        assert_eq!(devices[1].send(&h, "logout", &json!({})).0, 200);
        for epoch in h.state.verifier.keyring().epochs() {
            raw.push(*epoch.secret.expose_secret());
        }
        // Every day key the credentials carried.
        let day = |t: i64| paycode_core::identity::day_of_step((t / 60) as u64, 60);
        for d in day(common::T0) - 2..=day(h.now()) + 8 {
            raw.push(*h.state.verifier.keyring().day_key(d).expose_secret());
        }
        for bytes in &raw {
            texts.push(hex(bytes));
            texts.push(base64::engine::general_purpose::STANDARD.encode(bytes));
        }

        let (stored, on_disk): (String, Vec<u8>) = match engine {
            Engine::Sqlite => {
                let mut bytes = Vec::new();
                for file in h.sqlite_files() {
                    bytes.extend(std::fs::read(&file).unwrap());
                }
                (String::from_utf8_lossy(&bytes).into_owned(), bytes)
            }
            Engine::Postgres => (postgres_rows(&h), Vec::new()),
        };
        // The search sees what is there: the user, the device ids, a device's public signing
        // key (32 bytes, stored as they are) and a sealed seed.
        assert!(
            stored.contains("pat") && stored.contains(&devices[0].id),
            "{engine:?}"
        );
        let public = devices[0].secret.public_keys().signing;
        match engine {
            Engine::Sqlite => assert!(on_disk.windows(32).any(|w| w == public)),
            Engine::Postgres => assert!(stored.contains(&hex(&public))),
        }
        let sealed: Vec<u8> =
            h.rt.block_on(
                sqlx::query_scalar("SELECT seed FROM devices WHERE device_id = $1")
                    .bind(&devices[0].id)
                    .fetch_one(&h.state.db.read),
            )
            .unwrap();
        assert_eq!(
            h.state.seeds.open(&devices[0].id, &sealed).as_ref(),
            Some(devices[0].credential.seed()),
            "{engine:?}: the active device's seed is stored sealed"
        );

        let leaks = find_leaks(&stored, &texts, &codes);
        assert!(
            leaks.secrets.is_empty(),
            "{engine:?}: secrets in the database: {:?}",
            leaks
                .secrets
                .iter()
                .map(|s| &s[..8.min(s.len())])
                .collect::<Vec<_>>()
        );
        assert_eq!(leaks.codes, 0, "{engine:?}: full payment codes in the database");
        let secrets: HashSet<&[u8]> = raw.iter().map(|s| &s[..]).collect();
        let found = on_disk.windows(32).filter(|w| secrets.contains(w)).count();
        assert_eq!(
            found, 0,
            "{engine:?}: raw device keys, seeds or day keys in the database files"
        );
    }
}

#[test]
fn seeds_stored_in_clear_are_sealed_at_start_and_a_wrong_secret_will_not_start() {
    let h = Harness::new(Engine::Sqlite);
    let (_, device, key) = common::setup(&h, "lou");
    // An issuer from before sealing left this seed in clear.
    h.rt.block_on(
        sqlx::query("UPDATE devices SET seed = $1 WHERE device_id = $2")
            .bind(device.credential.seed().expose_secret().to_vec())
            .bind(&device.id)
            .execute(&h.state.db.write),
    )
    .unwrap();
    let stored = || -> Vec<u8> {
        h.rt.block_on(
            sqlx::query_scalar("SELECT seed FROM devices WHERE device_id = $1")
                .bind(&device.id)
                .fetch_one(&h.state.db.read),
        )
        .unwrap()
    };
    assert_eq!(stored().len(), 32);
    let config = || paycode_server::Config {
        database_url: h.state.config.database_url.clone(),
        ..test_config()
    };
    let clock = std::sync::Arc::new(h.clock.clone());
    let restarted =
        h.rt.block_on(paycode_server::AppState::new(
            config(),
            h.state.verifier.keyring().clone(),
            clock.clone(),
        ))
        .expect("the issuer starts");
    let sealed = stored();
    assert_eq!(sealed.len(), 65, "sealed at start");
    assert_eq!(
        restarted.seeds.open(&device.id, &sealed).as_ref(),
        Some(device.credential.seed())
    );
    assert_eq!(
        h.pay_ok(&key, &device.code(&h, 0), 5, "after")["status"],
        "accepted"
    );
    // Started with another issuer secret, the issuer refuses: it could verify no code.
    let wrong = paycode_core::IssuerKeyring::new(
        paycode_core::Prefix::DEFAULT,
        1,
        paycode_core::IssuerSecret::from_bytes([0x77; 32]),
    );
    let refused =
        h.rt.block_on(paycode_server::AppState::new(config(), wrong, clock))
            .unwrap_err();
    assert!(
        matches!(refused, paycode_server::state::StartError::SeedsDoNotOpen),
        "{refused}"
    );
    assert!(refused.to_string().contains("PAYCODE_ISSUER_SECRET"));
}
