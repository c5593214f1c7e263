//! A device request does not tell whether a device id exists (issue 11, point 8; docs/API.md
//! "Errors"): a made-up device id and a real device with a wrong signature get the same
//! answer, `401 bad_signature`, byte for byte. SQLite and PostgreSQL.

mod common;

use common::{Device, Harness, engines, signed_send};
use paycode_core::device::DeviceSecret;
use paycode_core::entropy::OsEntropy;
use paycode_core::{Clock, wire};

#[test]
fn unknown_devices_and_wrong_signatures_get_one_answer() {
    for engine in engines() {
        let h = Harness::new(engine);
        h.user("dora");
        let real = Device::provision(&h, &h.login("dora"));
        // The outsider's own key, used to sign for a device it does not own and for one that
        // does not exist (an id of the same form as a real one).
        let stranger = DeviceSecret::generate(&OsEntropy).unwrap();
        let mut made_up = real.id.clone();
        let last = made_up.pop().unwrap();
        made_up.push(if last == 'a' { 'b' } else { 'a' });
        assert!(paycode_core::bundle::is_valid_device_id(&made_up));

        let mut answers = Vec::new();
        for id in [&real.id, &made_up] {
            h.clock.advance_ms(1);
            let path = wire::device_path(id, "pause");
            let body = b"{}".to_vec();
            answers.push(signed_send(&h, &stranger, id, &path, body, h.clock.now_ms()));
        }
        assert_eq!(answers[0].0, 401, "{engine:?}: {:?}", answers[0]);
        assert_eq!(answers[0].1["error"]["code"], "bad_signature");
        assert_eq!(answers[0], answers[1], "{engine:?}: one answer for both");
        // The real device, signing itself, is still served.
        let (status, body) = real.send(&h, "pause", &serde_json::json!({}));
        assert_eq!(status, 200, "{engine:?}: {body}");
    }
}
