//! An issuer in the same process, for desktop tests of the bindings (feature `test-issuer`,
//! compiled into the host test library only — never into a shipped one).
//!
//! Kotlin and Swift tests have no issuer server to talk to. This one is made of the core's own
//! issuer parts — `OfflineCredential::issue`, `bundle::seal`, `device::verify_request`, the
//! `Verifier` and a replay guard — behind the wire format of `core::wire`, so a test `Backend`
//! written in Kotlin can route the wallet's real, signed requests to [`TestIssuer::handle`] (as
//! its HTTP client would POST them) and the test can then redeem the codes the wallet shows
//! with [`TestIssuer::redeem`], as a merchant's till would. Time is a [`TestClock`] shared with
//! the wallet. Simplifications (fine for tests, wrong for production): state in memory, one
//! key epoch, online codes made from the device's own seed with its last counter (9 on protocol
//! 1, 3 on protocol 2). It issues protocol-1 bundles until [`TestIssuer::switch_to_protocol_2`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use paycode_core::backend as core_backend;
use paycode_core::verifier::{
    DeviceProtocol, DeviceRecord, DeviceStatus, InMemoryDirectory, Verifier, VerifierConfig,
};
use paycode_core::{
    Clock, InMemoryReplayGuard, IssuerKeyring, IssuerSecret, LimitedUseCredential, ManualClock,
    OfflineCredential, Prefix, ReplayGuard, Seed, TimeParams, VerifyError, bundle, device, wire,
};
use serde::Serialize;

use crate::backend::{BackendRequest, BackendResponse, Operation};

/// A clock that moves only when told to, shared by a test's wallet and issuer.
#[derive(Debug, uniffi::Object)]
pub struct TestClock(pub(crate) ManualClock);

#[uniffi::export]
impl TestClock {
    /// A clock standing at `unix_ms`.
    #[uniffi::constructor]
    pub fn new(unix_ms: i64) -> Arc<Self> {
        Arc::new(Self(ManualClock::new(unix_ms)))
    }

    /// The time (Unix ms).
    pub fn now_ms(&self) -> i64 {
        self.0.now_ms()
    }

    /// Moves the time by `delta_ms` (wall and monotonic alike: time passing).
    pub fn advance_ms(&self, delta_ms: i64) {
        self.0.advance_ms(delta_ms);
    }

    /// Sets the wall clock only (the user changing the phone's clock).
    pub fn set_wall_ms(&self, unix_ms: i64) {
        self.0.set_ms(unix_ms);
    }
}

/// A code the issuer accepted.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Redeemed {
    /// The issuer's id of the device that made it.
    pub device_id: String,
    /// Its time step.
    pub step: u64,
    /// Its refresh counter.
    pub counter: u8,
}

/// Why the issuer refused a code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
#[uniffi::export(Display)]
pub enum RedeemError {
    /// Refused: `kind` is the core's `Rejection` variant name (`Replayed`, `Voided`, `BadOtp`…).
    #[error("{kind}: {reason}")]
    Rejected {
        /// The rejection's name.
        kind: String,
        /// Its message.
        reason: String,
    },
}

/// What test-vector inputs are wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
#[uniffi::export(Display)]
pub enum VectorError {
    /// An input is out of range or malformed.
    #[error("invalid vector input: {reason}")]
    Invalid {
        /// Which and why.
        reason: String,
    },
}

struct Device {
    slot: u32,
    signing_key: [u8; 32],
    sealing_key: [u8; 32],
    seed: [u8; 32],
    sequence: u64,
    valid_from: i64,
    valid_until: i64,
    status: DeviceStatus,
    protocol: DeviceProtocol,
}

#[derive(Default)]
struct Ledger {
    logins: Vec<String>,
    devices: HashMap<String, Device>,
    slots: HashMap<u32, String>,
    next_slot: u32,
    seen: Vec<Operation>,
}

/// An in-process issuer speaking the wire format (see the module docs).
#[derive(uniffi::Object)]
pub struct TestIssuer {
    clock: Arc<TestClock>,
    verifier: Verifier,
    directory: InMemoryDirectory,
    guard: InMemoryReplayGuard,
    validity_secs: i64,
    ledger: Mutex<Ledger>,
    /// Issue version-2 bundles (`switch_to_protocol_2`).
    protocol_2: AtomicBool,
}

/// Refresh counters per step of the version-2 bundles it issues (the real issuer's default).
const REFRESHES_PER_STEP: u8 = 4;

type Answer = (u16, Vec<u8>);

fn json(status: u16, body: &impl Serialize) -> Answer {
    // Serializing the wire structs cannot fail (no maps with non-string keys, no floats).
    (status, serde_json::to_vec(body).expect("wire types serialize"))
}

fn error(status: u16, code: &str, message: &str) -> Answer {
    json(
        status,
        &wire::ErrorBody {
            error: wire::ErrorDetail {
                issuer_time_ms: None,
                code: code.to_owned(),
                message: message.to_owned(),
            },
        },
    )
}

fn key32(text: &str) -> Option<[u8; 32]> {
    wire::unb64(text)?.try_into().ok()
}

fn status_text(status: DeviceStatus) -> String {
    match status {
        DeviceStatus::Active => "active",
        DeviceStatus::Paused => "paused",
        DeviceStatus::Revoked => "revoked",
    }
    .to_owned()
}

#[uniffi::export]
impl TestIssuer {
    /// An issuer with prefix `prefix`, one key epoch from `issuer_secret` (32 bytes), 60-second
    /// steps, credentials valid `validity_days` days, on `clock`.
    #[uniffi::constructor]
    pub fn new(
        issuer_secret: Vec<u8>,
        prefix: u8,
        validity_days: u32,
        clock: Arc<TestClock>,
    ) -> Result<Arc<Self>, VectorError> {
        let secret = IssuerSecret::try_from_slice(&issuer_secret).ok_or(VectorError::Invalid {
            reason: "issuer secret must be 32 bytes".into(),
        })?;
        let prefix = Prefix::new(prefix).ok_or(VectorError::Invalid {
            reason: "prefix must be 10-99".into(),
        })?;
        let keyring = IssuerKeyring::new(prefix, 1, secret);
        let verifier = Verifier::new(keyring, VerifierConfig::default(), Arc::new(clock.0.clone()));
        Ok(Arc::new(Self {
            clock,
            verifier,
            directory: InMemoryDirectory::new(),
            guard: InMemoryReplayGuard::new(),
            validity_secs: i64::from(validity_days.clamp(1, 31)) * 86_400,
            ledger: Mutex::new(Ledger::default()),
            protocol_2: AtomicBool::new(false),
        }))
    }

    /// Makes `token` a valid login token (single use).
    pub fn allow_login(&self, token: String) {
        self.lock().logins.push(token);
    }

    /// Handles one request as the HTTP issuer would: any failure is an HTTP status with the
    /// wire's error body.
    pub fn handle(&self, request: BackendRequest) -> BackendResponse {
        let request: core_backend::BackendRequest = request.into();
        let (status, body) = self.route(&request);
        self.lock().seen.push(request.operation.into());
        BackendResponse { status, body }
    }

    /// Every operation handled so far, in order.
    pub fn operations(&self) -> Vec<Operation> {
        self.lock().seen.clone()
    }

    /// Verifies and redeems `code` as a merchant's payment would: once, and nothing older.
    pub fn redeem(&self, code: String) -> Result<Redeemed, RedeemError> {
        match self.verifier.redeem(&code, &self.directory, &self.guard) {
            Ok(verified) => {
                let device_id = self.lock().slots.get(&verified.slot).cloned().unwrap_or_default();
                Ok(Redeemed {
                    device_id,
                    step: verified.step,
                    counter: verified.counter,
                })
            }
            Err(VerifyError::Rejected(rejection)) => Err(RedeemError::Rejected {
                kind: format!("{rejection:?}")
                    .split(['(', ' ', '{'])
                    .next()
                    .unwrap_or("")
                    .to_owned(),
                reason: rejection.to_string(),
            }),
            Err(VerifyError::Unavailable(why)) => Err(RedeemError::Rejected {
                kind: "Unavailable".into(),
                reason: why,
            }),
        }
    }

    /// From now on the issuer issues protocol-2 bundles (docs/PROTOCOL.md §12.7), as the real
    /// issuer does: at provisioning, and at the next sync of every device still on protocol 1,
    /// whatever its remaining validity. A migrated device's protocol-1 codes of steps that began
    /// before its sync stay good for their window; later ones are refused.
    pub fn switch_to_protocol_2(&self) {
        self.protocol_2.store(true, Ordering::SeqCst);
    }

    /// Revokes a device as an operator would (e.g. a stolen phone).
    pub fn revoke(&self, device_id: String) {
        self.set_status(&device_id, DeviceStatus::Revoked);
    }
}

impl TestIssuer {
    fn lock(&self) -> std::sync::MutexGuard<'_, Ledger> {
        self.ledger.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn now_ms(&self) -> i64 {
        self.clock.0.now_ms()
    }

    fn set_status(&self, device_id: &str, status: DeviceStatus) {
        let mut ledger = self.lock();
        if let Some(device) = ledger.devices.get_mut(device_id) {
            device.status = status;
            self.directory.set_status(device.slot, status);
        }
    }

    fn route(&self, request: &core_backend::BackendRequest) -> Answer {
        let header = |name: &str| {
            request
                .headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        };
        let (Some(device_id), Some(timestamp), Some(signature)) = (
            header(wire::HEADER_DEVICE),
            header(wire::HEADER_TIMESTAMP).and_then(|t| t.parse::<i64>().ok()),
            header(wire::HEADER_SIGNATURE)
                .and_then(wire::unb64)
                .and_then(|s| <[u8; 64]>::try_from(s).ok()),
        ) else {
            return error(400, "bad_request", "missing or malformed signature headers");
        };
        if (timestamp - self.now_ms()).abs() > wire::MAX_REQUEST_SKEW_MS {
            return error(401, "stale_request", "request timestamp too far from issuer time");
        }
        if request.path == wire::PATH_PROVISION {
            return self.provision(request, timestamp, &signature);
        }
        let Some(rest) = request.path.strip_prefix("/v1/devices/") else {
            return error(404, "not_found", "no such endpoint");
        };
        let Some((id, verb)) = rest.split_once('/') else {
            return error(404, "not_found", "no such endpoint");
        };
        if id != device_id {
            return error(401, "bad_signature", "device header does not match the path");
        }
        let mut ledger = self.lock();
        let Some(device) = ledger.devices.get(id) else {
            return error(404, "unknown_device", "no such device");
        };
        if device::verify_request(
            &device.signing_key,
            &request.path,
            id,
            timestamp,
            &request.body,
            &signature,
        )
        .is_err()
        {
            return error(401, "bad_signature", "the request signature does not verify");
        }
        if device.status == DeviceStatus::Revoked {
            return error(403, "device_revoked", "this device was logged out or revoked");
        }
        let now_ms = self.now_ms();
        let ack = || {
            json(
                200,
                &wire::Ack {
                    issuer_time_ms: now_ms,
                },
            )
        };
        match verb {
            "sync" => {
                let Ok(body) = serde_json::from_slice::<wire::SyncRequest>(&request.body) else {
                    return error(400, "bad_request", "malformed sync body");
                };
                drop(ledger);
                self.sync(id, &body)
            }
            "online-code" => {
                if device.status == DeviceStatus::Paused {
                    return error(403, "device_paused", "payment codes are paused");
                }
                match self.online_code(device, now_ms / 1000) {
                    Ok(code) => {
                        let step_ms = i64::from(TimeParams::default().step_secs) * 1000;
                        let expires_at_ms = (now_ms / step_ms + 2) * step_ms;
                        json(
                            200,
                            &wire::OnlineCodeResponse {
                                code: code.digits(),
                                expires_at_ms,
                                issuer_time_ms: now_ms,
                            },
                        )
                    }
                    Err(e) => error(409, "no_code", &e),
                }
            }
            "void" => {
                let Ok(body) = serde_json::from_slice::<wire::VoidRequest>(&request.body) else {
                    return error(400, "bad_request", "malformed void body");
                };
                let mark = paycode_core::CodeMark {
                    step: body.step,
                    counter: body.counter,
                };
                let _ = self.guard.void_through(device.slot, mark);
                ack()
            }
            "logout" => {
                let slot = device.slot;
                if let Some(d) = ledger.devices.get_mut(id) {
                    d.status = DeviceStatus::Revoked;
                }
                self.directory.set_status(slot, DeviceStatus::Revoked);
                ack()
            }
            "pause" | "resume" => {
                let status = if verb == "pause" {
                    DeviceStatus::Paused
                } else {
                    DeviceStatus::Active
                };
                let slot = device.slot;
                if let Some(d) = ledger.devices.get_mut(id) {
                    d.status = status;
                }
                self.directory.set_status(slot, status);
                ack()
            }
            _ => error(404, "not_found", "no such endpoint"),
        }
    }

    fn credential_for(&self, device: &Device, from: i64) -> Result<OfflineCredential, String> {
        OfflineCredential::issue(
            self.verifier.keyring(),
            TimeParams::default(),
            device.slot,
            Seed::from_bytes(device.seed),
            from.min(device.valid_from),
            device.valid_until,
        )
        .map_err(|e| e.to_string())
    }

    /// An online code: the device's own code of the current step with its last counter (9 on
    /// protocol 1, `REFRESHES_PER_STEP - 1` on protocol 2), which its wallet never shows offline
    /// in practice.
    fn online_code(&self, device: &Device, now_s: i64) -> Result<paycode_core::PaymentCode, String> {
        if device.protocol.v2 {
            let step_secs = i64::from(TimeParams::default().step_secs);
            LimitedUseCredential::issue(
                self.verifier.keyring(),
                TimeParams::default(),
                REFRESHES_PER_STEP,
                device.slot,
                Seed::from_bytes(device.seed),
                now_s,
                now_s + step_secs,
            )
            .map_err(|e| e.to_string())?
            .code_at(now_s, REFRESHES_PER_STEP - 1)
            .map_err(|e| e.to_string())
        } else {
            let credential = self.credential_for(device, now_s)?;
            credential.code_at(now_s, 9).map_err(|e| e.to_string())
        }
    }

    fn provision(
        &self,
        request: &core_backend::BackendRequest,
        timestamp: i64,
        signature: &[u8; 64],
    ) -> Answer {
        let Ok(body) = serde_json::from_slice::<wire::ProvisionRequest>(&request.body) else {
            return error(400, "bad_request", "malformed provisioning body");
        };
        let (Some(signing_key), Some(sealing_key)) = (key32(&body.signing_key), key32(&body.sealing_key))
        else {
            return error(400, "bad_request", "malformed device keys");
        };
        if device::verify_request(
            &signing_key,
            &request.path,
            "",
            timestamp,
            &request.body,
            signature,
        )
        .is_err()
        {
            return error(401, "bad_signature", "the request signature does not verify");
        }
        let mut ledger = self.lock();
        let Some(index) = ledger.logins.iter().position(|t| *t == body.login_token) else {
            return error(
                401,
                "invalid_login",
                "the login token is unknown or was already used",
            );
        };
        ledger.logins.remove(index);
        let mut seed = [0u8; 32];
        if paycode_core::entropy::Entropy::fill(&paycode_core::entropy::OsEntropy, &mut seed).is_err() {
            return error(500, "internal", "no randomness");
        }
        let slot = ledger.next_slot * 7 + 1_000;
        ledger.next_slot += 1;
        let device_id = format!("dev_{slot}");
        let now_ms = self.now_ms();
        let valid_from = now_ms / 1000;
        let device = Device {
            slot,
            signing_key,
            sealing_key,
            seed,
            sequence: 1,
            valid_from,
            valid_until: valid_from + self.validity_secs,
            status: DeviceStatus::Active,
            protocol: if self.protocol_2.load(Ordering::SeqCst) {
                DeviceProtocol::V2
            } else {
                DeviceProtocol::V1
            },
        };
        let sealed = match self.seal(&device, &device_id, now_ms) {
            Ok(sealed) => sealed,
            Err(e) => return error(400, "bad_request", &e),
        };
        self.guard.forget(slot).ok();
        self.directory.insert(DeviceRecord {
            slot,
            seed: Seed::from_bytes(seed),
            status: DeviceStatus::Active,
            valid_from,
            valid_until: device.valid_until,
            protocol: device.protocol,
        });
        ledger.slots.insert(slot, device_id.clone());
        ledger.devices.insert(device_id.clone(), device);
        json(
            201,
            &wire::BundleResponse {
                device_id,
                bundle: Some(sealed),
                status: "active".into(),
                issuer_time_ms: now_ms,
            },
        )
    }

    fn seal(&self, device: &Device, device_id: &str, now_ms: i64) -> Result<String, String> {
        let sealed = if device.protocol.v2 {
            let credential = LimitedUseCredential::issue(
                self.verifier.keyring(),
                TimeParams::default(),
                REFRESHES_PER_STEP,
                device.slot,
                Seed::from_bytes(device.seed),
                device.valid_from,
                device.valid_until,
            )
            .map_err(|e| e.to_string())?;
            bundle::seal_v2(
                &credential,
                device_id,
                device.sequence,
                now_ms,
                &device.sealing_key,
            )
        } else {
            let credential = self.credential_for(device, device.valid_from)?;
            bundle::seal(
                &credential,
                device_id,
                device.sequence,
                now_ms,
                &device.sealing_key,
            )
        };
        sealed.map(|bytes| wire::b64(&bytes)).map_err(|e| e.to_string())
    }

    /// Sync: a new bundle (valid for the full period from now) when the device's has less than
    /// half of it left, or when it is still on protocol 1 after `switch_to_protocol_2`; else just
    /// the status and time.
    fn sync(&self, id: &str, body: &wire::SyncRequest) -> Answer {
        let now_ms = self.now_ms();
        let mut ledger = self.lock();
        let Some(device) = ledger.devices.get_mut(id) else {
            return error(404, "unknown_device", "no such device");
        };
        let mut bundle_text = None;
        let migrate = self.protocol_2.load(Ordering::SeqCst) && !device.protocol.v2;
        if migrate || body.valid_until - now_ms / 1000 < self.validity_secs / 2 {
            if migrate {
                device.protocol = DeviceProtocol::migrated_at(now_ms / 1000);
            }
            device.sequence = device.sequence.max(body.sequence) + 1;
            device.valid_from = now_ms / 1000;
            device.valid_until = device.valid_from + self.validity_secs;
            let device = &*device;
            match self.seal(device, id, now_ms) {
                Ok(sealed) => bundle_text = Some(sealed),
                Err(e) => return error(500, "internal", &e),
            }
            self.directory.insert(DeviceRecord {
                slot: device.slot,
                seed: Seed::from_bytes(device.seed),
                status: device.status,
                valid_from: device.valid_from,
                valid_until: device.valid_until,
                protocol: device.protocol,
            });
        }
        json(
            200,
            &wire::BundleResponse {
                device_id: id.to_owned(),
                bundle: bundle_text,
                status: status_text(device_status(&ledger, id)),
                issuer_time_ms: now_ms,
            },
        )
    }
}

fn device_status(ledger: &Ledger, id: &str) -> DeviceStatus {
    ledger.devices.get(id).map_or(DeviceStatus::Revoked, |d| d.status)
}

fn hex32(text: &str, what: &str) -> Result<[u8; 32], VectorError> {
    let invalid = || VectorError::Invalid {
        reason: format!("{what} must be 64 hex digits"),
    };
    if text.len() != 64 {
        return Err(invalid());
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).map_err(|_| invalid())?;
    }
    Ok(out)
}

/// The code that the test-vector inputs make (docs/test-vectors.json): issuer secret and epoch,
/// prefix, step length, device slot and seed, time and counter. Test support: it needs the
/// issuer's secret, so it exists only with the `test-issuer` feature.
#[allow(clippy::too_many_arguments)]
#[uniffi::export]
pub fn vector_code(
    issuer_secret_hex: String,
    epoch: u32,
    prefix: u8,
    step_secs: u32,
    slot: u32,
    seed_hex: String,
    unix_time: i64,
    counter: u8,
) -> Result<String, VectorError> {
    let invalid = |reason: String| VectorError::Invalid { reason };
    let prefix = Prefix::new(prefix).ok_or_else(|| invalid("prefix must be 10-99".into()))?;
    let keyring = IssuerKeyring::new(
        prefix,
        epoch,
        IssuerSecret::from_bytes(hex32(&issuer_secret_hex, "issuer secret")?),
    );
    let credential = OfflineCredential::issue(
        &keyring,
        TimeParams { step_secs },
        slot,
        Seed::from_bytes(hex32(&seed_hex, "seed")?),
        unix_time,
        unix_time + 1,
    )
    .map_err(|e| invalid(e.to_string()))?;
    let code = credential
        .code_at(unix_time, counter)
        .map_err(|e| invalid(e.to_string()))?;
    Ok(code.digits())
}

/// Panics inside Rust, to prove that no panic crosses the boundary (the caller gets an
/// internal-error exception instead of a crash).
#[uniffi::export]
pub fn test_panic(message: String) -> u32 {
    panic!("{message}")
}
