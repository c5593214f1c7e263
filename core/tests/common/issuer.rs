//! An issuer in this process, speaking the wire protocol through the `Backend` trait: the core
//! verifier, bundle sealing and signature checks, with switches to inject network faults.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use paycode_core::backend::{Backend, BackendError, BackendRequest, BackendResponse, Operation};
use paycode_core::verifier::{
    DeviceProtocol, DeviceRecord, DeviceStatus, InMemoryDirectory, Verifier, VerifierConfig,
};
use paycode_core::{
    Clock, CodeMark, InMemoryReplayGuard, IssuerKeyring, IssuerSecret, LimitedUseCredential, ManualClock,
    OfflineCredential, Prefix, Protocol, ReplayGuard, Seed, TimeParams, bundle, device, wire,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Network {
    Up,
    Offline,
    Timeout,
}

pub struct Device {
    pub signing: [u8; 32],
    pub sealing: [u8; 32],
    pub slot: u32,
    pub sequence: u64,
}

/// Rewrites sealed bundles on their way out (to test that the wallet refuses them).
pub type Tamper = Box<dyn Fn(Vec<u8>) -> Vec<u8> + Send>;

pub struct TestIssuer {
    pub clock: ManualClock,
    pub verifier: Verifier,
    pub directory: InMemoryDirectory,
    pub guard: InMemoryReplayGuard,
    pub devices: Mutex<HashMap<String, Device>>,
    pub online_codes: Mutex<HashMap<String, (String, i64)>>,
    pub network: Mutex<Network>,
    pub log: Mutex<Vec<Operation>>,
    pub validity_secs: Mutex<i64>,
    /// Whether sync renews credentials that run low (an issuer may refuse, e.g. KYC lapsed).
    pub renew_on_sync: Mutex<bool>,
    pub tamper_bundles: Mutex<Option<Tamper>>,
    /// The protocol of the bundles it issues (2 unless a test plays an issuer before the switch).
    pub issue_protocol: Mutex<Protocol>,
    next: AtomicU64,
}

fn ok<T: serde::Serialize>(status: u16, body: &T) -> Result<BackendResponse, BackendError> {
    Ok(BackendResponse {
        status,
        body: serde_json::to_vec(body).unwrap(),
    })
}

fn err(status: u16, code: &str) -> Result<BackendResponse, BackendError> {
    err_at(status, code, None)
}

fn err_at(status: u16, code: &str, issuer_time_ms: Option<i64>) -> Result<BackendResponse, BackendError> {
    ok(
        status,
        &wire::ErrorBody {
            error: wire::ErrorDetail {
                code: code.into(),
                message: code.replace('_', " "),
                issuer_time_ms,
            },
        },
    )
}

impl TestIssuer {
    /// An issuer whose clock is `clock` (share it with the wallet to model a correct phone clock,
    /// or give the wallet another to model a wrong one).
    pub fn new(clock: ManualClock) -> Arc<Self> {
        let keyring = IssuerKeyring::new(Prefix::DEFAULT, 1, IssuerSecret::from_bytes([0x33; 32]));
        let verifier = Verifier::new(keyring, VerifierConfig::default(), Arc::new(clock.clone()));
        Arc::new(Self {
            clock,
            verifier,
            directory: InMemoryDirectory::new(),
            guard: InMemoryReplayGuard::new(),
            devices: Mutex::new(HashMap::new()),
            online_codes: Mutex::new(HashMap::new()),
            network: Mutex::new(Network::Up),
            log: Mutex::new(Vec::new()),
            validity_secs: Mutex::new(7 * 86_400),
            renew_on_sync: Mutex::new(true),
            tamper_bundles: Mutex::new(None),
            issue_protocol: Mutex::new(Protocol::V2),
            next: AtomicU64::new(1),
        })
    }

    pub fn set_network(&self, network: Network) {
        *self.network.lock().unwrap() = network;
    }

    pub fn count(&self, operation: Operation) -> usize {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|o| **o == operation)
            .count()
    }

    /// A merchant's payment with `code` now: Ok(slot) or the reason.
    pub fn pay(&self, code: &str) -> Result<u32, String> {
        if let Some((device_id, expires)) = self.online_codes.lock().unwrap().remove(code) {
            if self.clock.now_ms() < expires {
                return Ok(self.devices.lock().unwrap()[&device_id].slot);
            }
            return Err("online code expired".into());
        }
        self.verifier
            .redeem(code, &self.directory, &self.guard)
            .map(|v| v.slot)
            .map_err(|e| e.to_string())
    }

    fn issue(&self, device_id: &str, dev: &Device) -> Vec<u8> {
        let now = self.clock.now_secs();
        let validity = *self.validity_secs.lock().unwrap();
        let seed = Seed::from_bytes([dev.slot as u8; 32]);
        let previous = self.directory.device(dev.slot).map(|r| r.protocol);
        let (sealed, protocol) = match *self.issue_protocol.lock().unwrap() {
            Protocol::V1 => {
                let cred = OfflineCredential::issue(
                    self.verifier.keyring(),
                    TimeParams::default(),
                    dev.slot,
                    seed.clone(),
                    now,
                    now + validity,
                )
                .unwrap();
                let sealed =
                    bundle::seal(&cred, device_id, dev.sequence, self.clock.now_ms(), &dev.sealing).unwrap();
                (sealed, DeviceProtocol::V1)
            }
            Protocol::V2 => {
                let cred = LimitedUseCredential::issue(
                    self.verifier.keyring(),
                    TimeParams::default(),
                    self.verifier.config().refreshes,
                    dev.slot,
                    seed.clone(),
                    now,
                    now + validity,
                )
                .unwrap();
                let sealed =
                    bundle::seal_v2(&cred, device_id, dev.sequence, self.clock.now_ms(), &dev.sealing)
                        .unwrap();
                // A device moving from protocol 1 keeps its protocol-1 codes of steps begun
                // before now; one already on protocol 2 stays as it is.
                let protocol = match previous {
                    Some(p) if !p.v2 => DeviceProtocol::migrated_at(now),
                    Some(p) => p,
                    None => DeviceProtocol::V2,
                };
                (sealed, protocol)
            }
        };
        self.directory.insert(DeviceRecord {
            slot: dev.slot,
            seed,
            status: DeviceStatus::Active,
            valid_from: now,
            valid_until: now + validity,
            protocol,
        });
        match &*self.tamper_bundles.lock().unwrap() {
            Some(tamper) => tamper(sealed),
            None => sealed,
        }
    }

    fn header<'a>(request: &'a BackendRequest, name: &str) -> &'a str {
        request
            .headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }

    /// Checks the signature, and the timestamp except when provisioning (the device does not
    /// know issuer time yet; the single-use login token stops replays).
    fn authenticate(&self, request: &BackendRequest, signing: &[u8; 32]) -> bool {
        let id = Self::header(request, wire::HEADER_DEVICE);
        let Ok(ts) = Self::header(request, wire::HEADER_TIMESTAMP).parse::<i64>() else {
            return false;
        };
        let Some(sig) = wire::unb64(Self::header(request, wire::HEADER_SIGNATURE)) else {
            return false;
        };
        let Ok(sig) = <[u8; 64]>::try_from(sig.as_slice()) else {
            return false;
        };
        let provisioning = request.path == wire::PATH_PROVISION;
        (provisioning || (ts - self.clock.now_ms()).abs() <= wire::MAX_REQUEST_SKEW_MS)
            && device::verify_request(signing, &request.path, id, ts, &request.body, &sig).is_ok()
    }
}

impl Backend for TestIssuer {
    fn send(&self, request: BackendRequest) -> Result<BackendResponse, BackendError> {
        self.log.lock().unwrap().push(request.operation);
        match *self.network.lock().unwrap() {
            Network::Offline => return Err(BackendError::Offline),
            Network::Timeout => return Err(BackendError::Timeout),
            Network::Up => {}
        }
        let now_ms = self.clock.now_ms();
        if request.path == wire::PATH_PROVISION {
            let Ok(body) = serde_json::from_slice::<wire::ProvisionRequest>(&request.body) else {
                return err(400, "bad_request");
            };
            if body.login_token != "good-token" {
                return err(401, "invalid_login");
            }
            let signing: [u8; 32] = wire::unb64(&body.signing_key).unwrap().try_into().unwrap();
            let sealing: [u8; 32] = wire::unb64(&body.sealing_key).unwrap().try_into().unwrap();
            if !self.authenticate(&request, &signing) {
                return err(401, "bad_signature");
            }
            let n = self.next.fetch_add(1, Ordering::SeqCst);
            let device_id = format!("dev_{n}");
            let dev = Device {
                signing,
                sealing,
                slot: 1000 + n as u32,
                sequence: 1,
            };
            let bundle = self.issue(&device_id, &dev);
            self.devices.lock().unwrap().insert(device_id.clone(), dev);
            return ok(
                201,
                &wire::BundleResponse {
                    device_id,
                    bundle: Some(wire::b64(&bundle)),
                    status: "active".into(),
                    issuer_time_ms: now_ms,
                },
            );
        }
        let parts: Vec<&str> = request.path.split('/').collect();
        let (device_id, verb) = match parts.as_slice() {
            ["", "v1", "devices", id, verb] => (id.to_string(), *verb),
            _ => return err(404, "not_found"),
        };
        let mut devices = self.devices.lock().unwrap();
        let Some(dev) = devices.get_mut(&device_id) else {
            return err(404, "unknown_device");
        };
        let ts = Self::header(&request, wire::HEADER_TIMESTAMP)
            .parse::<i64>()
            .unwrap_or(0);
        if (ts - now_ms).abs() > wire::MAX_REQUEST_SKEW_MS {
            return err_at(401, "stale_timestamp", Some(now_ms));
        }
        if !self.authenticate(&request, &dev.signing) {
            return err(401, "bad_signature");
        }
        let record = self.directory.device(dev.slot);
        let status = match record.as_ref().map(|r| r.status) {
            Some(DeviceStatus::Paused) => "paused",
            Some(DeviceStatus::Revoked) | None => "revoked",
            Some(DeviceStatus::Active) => "active",
        };
        match verb {
            "sync" => {
                let body: wire::SyncRequest = serde_json::from_slice(&request.body).unwrap();
                let left = body.valid_until - self.clock.now_secs();
                let renew = *self.renew_on_sync.lock().unwrap();
                // A device on protocol 1 migrates at its first sync once the issuer issues
                // protocol 2 (PROTOCOL.md §12.7), whatever validity it has left.
                let on_v1 = record.as_ref().is_some_and(|r| !r.protocol.v2);
                let migrate = on_v1 && *self.issue_protocol.lock().unwrap() == Protocol::V2;
                let bundle = (renew && status == "active" && (left < 3 * 86_400 || migrate)).then(|| {
                    dev.sequence += 1;
                    wire::b64(&self.issue(&device_id, dev))
                });
                ok(
                    200,
                    &wire::BundleResponse {
                        device_id,
                        bundle,
                        status: status.into(),
                        issuer_time_ms: now_ms,
                    },
                )
            }
            "online-code" => {
                if status != "active" {
                    return err(403, "device_not_active");
                }
                let code = format!(
                    "28{:016}",
                    4_000_000_000_000_000u64 + self.next.fetch_add(1, Ordering::SeqCst)
                );
                let expires = now_ms + 60_000;
                self.online_codes
                    .lock()
                    .unwrap()
                    .insert(code.clone(), (device_id, expires));
                ok(
                    200,
                    &wire::OnlineCodeResponse {
                        code,
                        expires_at_ms: expires,
                        issuer_time_ms: now_ms,
                    },
                )
            }
            "void" => {
                let body: wire::VoidRequest = serde_json::from_slice(&request.body).unwrap();
                self.guard
                    .void_through(
                        dev.slot,
                        CodeMark {
                            step: body.step,
                            counter: body.counter,
                        },
                    )
                    .unwrap();
                ok(
                    200,
                    &wire::Ack {
                        issuer_time_ms: now_ms,
                    },
                )
            }
            "logout" => {
                self.directory.set_status(dev.slot, DeviceStatus::Revoked);
                ok(
                    200,
                    &wire::Ack {
                        issuer_time_ms: now_ms,
                    },
                )
            }
            "pause" | "resume" => {
                let new = if verb == "pause" {
                    DeviceStatus::Paused
                } else {
                    DeviceStatus::Active
                };
                self.directory.set_status(dev.slot, new);
                ok(
                    200,
                    &wire::Ack {
                        issuer_time_ms: now_ms,
                    },
                )
            }
            _ => err(404, "not_found"),
        }
    }
}

trait DirectoryExt {
    fn device(&self, slot: u32) -> Option<DeviceRecord>;
}
impl DirectoryExt for InMemoryDirectory {
    fn device(&self, slot: u32) -> Option<DeviceRecord> {
        paycode_core::DeviceDirectory::device(self, slot).unwrap()
    }
}
