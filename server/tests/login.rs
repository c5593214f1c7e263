//! Login timing does not tell which user names exist (issue 11, point 7): a login for an
//! unknown user computes a password hash just like a wrong password for a real user, and the
//! two get the same answer. Proven structurally (the hash computations are counted on the code
//! path) rather than with a timed unit test; docs/SECURITY.md records a measured comparison.
//! (One test in this binary: the counter is process-wide.)

mod common;

use common::{Harness, engines};
use paycode_server::users::password_checks;
use serde_json::json;

#[test]
fn unknown_users_cost_one_password_hash_like_wrong_passwords() {
    for engine in engines() {
        let h = Harness::new(engine);
        h.user("alice");
        let attempt = |name: &str, password: &str| {
            let before = password_checks();
            let answer = h.post(
                "/v1/login",
                None,
                &json!({"username": name, "password": password}),
            );
            (answer, password_checks() - before)
        };
        let (wrong_password, hashes_known) = attempt("alice", "not the password");
        let (unknown_user, hashes_unknown) = attempt("nobody-here", "not the password");
        assert_eq!(hashes_known, 1, "{engine:?}");
        assert_eq!(hashes_unknown, 1, "{engine:?}: the dummy hash is computed");
        assert_eq!(wrong_password, unknown_user, "{engine:?}: the same answer");
        assert_eq!(wrong_password.0, 401);
        assert_eq!(wrong_password.1["error"]["code"], "invalid_login");
        // The right password still works.
        let (good, hashes) = attempt("alice", "correct horse");
        assert_eq!((good.0, hashes), (200, 1), "{engine:?}: {}", good.1);
    }
}
