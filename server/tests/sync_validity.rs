//! docs/API.md, `POST /v1/devices/{id}/sync`: a new bundle starts 2 steps before the current
//! step (so codes just shown stay valid), but never before the previous bundle's start.

mod common;

use common::{Device, Harness, engines};
use paycode_core::bundle;
use paycode_core::wire::{self, BundleResponse};
use serde_json::json;

fn synced_valid_from(h: &Harness, device: &Device, sequence: u64) -> i64 {
    // An older sequence than the issuer's forces a new bundle.
    let (status, body) = device.send(h, "sync", &json!({"sequence": sequence, "valid_until": 0}));
    assert_eq!(status, 200, "{body}");
    let response: BundleResponse = serde_json::from_value(body).unwrap();
    let bytes = wire::unb64(response.bundle.as_deref().expect("a new bundle")).unwrap();
    bundle::open(&bytes, &device.secret).unwrap().header.valid_from
}

#[test]
fn a_synced_bundle_starts_two_steps_back_but_not_before_the_previous_one() {
    for engine in engines() {
        let h = Harness::new(engine);
        h.user("sam");
        let provisioned_at = h.now();
        let device = Device::provision(&h, &h.login("sam"));
        assert_eq!(device.credential.valid_from(), provisioned_at);
        // Right after provisioning, 2 steps back is before the first bundle: it stays.
        h.clock.advance_secs(30);
        assert_eq!(synced_valid_from(&h, &device, 0), provisioned_at, "{engine:?}");
        // Three days later: 2 steps (of 60 s) before the start of the current step.
        h.clock.advance_secs(3 * 86_400 + 17);
        let now = h.now();
        let expected = now - now.rem_euclid(60) - 2 * 60;
        assert_eq!(synced_valid_from(&h, &device, 0), expected, "{engine:?}");
    }
}
