//! `paycode demo`: an issuer, a wallet whose secrets live in the OS keyring, a merchant — the
//! whole story of an offline payment code, interactive or scripted.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use paycode_core::vault::KeyringStore;
use paycode_core::wallet::TaskRunner;
use paycode_core::{
    Clock, CodeListener, CodeSource, InlineRunner, ManualClock, PaymentCode, SystemClock, ThreadRunner,
    Wallet, WalletConfig, WalletEvent, WalletState,
};
use paycode_http::HttpBackend;

use crate::issuer::EmbeddedIssuer;
use crate::switch::SwitchedBackend;

/// Everything the demo runs.
struct Rig {
    issuer: EmbeddedIssuer,
    backend: Arc<SwitchedBackend<HttpBackend>>,
    wallet: Wallet,
    merchant_key: String,
    states: Arc<StateLog>,
}

/// Records what the wallet pushes (online codes arrive this way).
#[derive(Default)]
struct StateLog(Mutex<Vec<WalletState>>);

impl CodeListener for StateLog {
    fn on_state(&self, state: WalletState) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push(state);
    }
}

fn setup(clock: Arc<dyn Clock>, runner: Arc<dyn TaskRunner>) -> Result<Rig, String> {
    let issuer = EmbeddedIssuer::start(clock.clone())?;
    let login = issuer.user_login_token("alice", "correct horse battery staple")?;
    let merchant_key = issuer.merchant_key("Corner Shop")?;
    let backend = Arc::new(SwitchedBackend::new(HttpBackend::new(issuer.base_url.clone())));
    let store = KeyringStore::new("paycode-demo").map_err(|e| format!("OS keyring: {e}"))?;
    let config = WalletConfig {
        namespace: format!("demo-{}", std::process::id()),
        platform: "paycode demo".into(),
        ..WalletConfig::default()
    };
    let wallet = Wallet::with_runtime(
        config,
        Arc::new(store),
        backend.clone(),
        clock,
        Arc::new(paycode_core::entropy::OsEntropy),
        runner,
    );
    let states = Arc::new(StateLog::default());
    wallet.set_listener(Some(states.clone()));
    wallet
        .provision(&login)
        .map_err(|e| format!("provisioning: {e}"))?;
    Ok(Rig {
        issuer,
        backend,
        wallet,
        merchant_key,
        states,
    })
}

impl Rig {
    fn network(&self, up: bool) -> WalletState {
        self.backend.set_up(up);
        self.wallet.handle(WalletEvent::NetworkAvailable(up))
    }

    fn pay(&self, code: &str) -> Result<String, String> {
        self.issuer
            .pay(&self.merchant_key, code, 1_250)
            .map(|d| d.to_string())
    }
}

fn shown(state: &WalletState) -> Result<(String, String, CodeSource), String> {
    match state {
        WalletState::Code(code) => Ok((code.digits.clone(), code.display.clone(), code.source)),
        other => Err(format!("expected a code on screen, got {other:?}")),
    }
}

/// The scripted story. Prints every code shown (4-4-4-6) and every decision; fails on the first
/// step that does not behave as expected.
pub fn script() -> Result<(), String> {
    let clock = ManualClock::new(SystemClock.now_ms());
    let rig = setup(Arc::new(clock.clone()), Arc::new(InlineRunner))?;
    let mut failures = 0;
    let mut check = |what: &str, got: &str, want: &str| {
        let ok = got.starts_with(want);
        println!("  {} {what}: {got}", if ok { "ok  " } else { "FAIL" });
        if !ok {
            failures += 1;
        }
    };
    println!("provisioned: secrets in the OS keyring; the network is now cut");
    rig.network(false);

    println!("\n1. offline code paid");
    let (a, display, source) = shown(&rig.wallet.current())?;
    println!("  shows {display} ({source:?})");
    check("merchant scans it", &rig.pay(&a)?, "accepted");

    println!("\n2. the same code again");
    check("replayed", &rig.pay(&a)?, "declined (replayed)");

    println!("\n3. an older code after a newer one was paid");
    let (b, display_b, _) = shown(&rig.wallet.handle(WalletEvent::ManualRefresh))?;
    println!("  shows {display_b}");
    let (c, display_c, _) = shown(&rig.wallet.handle(WalletEvent::ManualRefresh))?;
    println!("  shows {display_c}");
    check("newer code", &rig.pay(&c)?, "accepted");
    check("older code", &rig.pay(&b)?, "declined (superseded)");

    println!("\n4. screenshot while offline, void honoured once back online");
    clock.advance_ms(60_000);
    let (d, display_d, _) = shown(&rig.wallet.handle(WalletEvent::Tick))?;
    println!("  shows {display_d}  <- screenshot taken");
    let (e, display_e, _) = shown(&rig.wallet.handle(WalletEvent::Screenshot))?;
    println!("  shows {display_e}  (fresh code at once)");
    rig.network(true);
    println!("  network back: the void reaches the issuer");
    check("captured code", &rig.pay(&d)?, "declined (voided)");
    check("fresh code", &rig.pay(&e)?, "accepted");

    println!("\n5. credentials expired, network on: online code");
    rig.network(false);
    clock.advance_ms(8 * 86_400_000);
    let offline_state = rig.wallet.current();
    check(
        "offline after 8 days",
        &format!("{offline_state:?}"),
        "NeedsNetwork",
    );
    rig.states.0.lock().unwrap_or_else(|p| p.into_inner()).clear();
    rig.network(true);
    let pushed = rig.states.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let online = pushed.iter().find_map(|s| match s {
        WalletState::Code(code) if code.source == CodeSource::Online => Some(code.clone()),
        _ => None,
    });
    match online {
        Some(code) => {
            println!("  shows {} (Online)", code.display);
            check("online code", &rig.pay(&code.digits)?, "accepted");
        }
        None => check("online code", &format!("none among {pushed:?}"), "an online code"),
    }
    let (f, display_f, source_f) = shown(&rig.wallet.current())?;
    println!("  credentials renewed in the background; shows {display_f} ({source_f:?})");
    check("renewed offline code", &rig.pay(&f)?, "accepted");

    println!("\n6. logout: codes dead");
    let (g, display_g, _) = shown(&rig.wallet.handle(WalletEvent::ManualRefresh))?;
    println!("  shows {display_g}");
    let confirmed = rig.wallet.logout().map_err(|e| e.to_string())?;
    check("issuer confirmed logout", &confirmed.to_string(), "true");
    check("screen", &format!("{:?}", rig.wallet.current()), "NeedsLogin");
    // The issuer revoked the device and wiped its seed: the code names no device any more.
    check("code shown before logout", &rig.pay(&g)?, "declined");

    if failures == 0 {
        println!("\nall steps behaved as expected");
        Ok(())
    } else {
        Err(format!("{failures} step(s) did not behave as expected"))
    }
}

/// The interactive demo in a real terminal.
pub fn interactive() -> Result<(), String> {
    use crossterm::event::{self, Event, KeyCode, KeyEventKind};
    use crossterm::{cursor, execute, terminal};

    let rig = setup(Arc::new(SystemClock), Arc::new(ThreadRunner))?;
    rig.network(false);
    let mut log: Vec<String> = vec!["provisioned; secrets in the OS keyring; network cut".into()];
    let mut out = std::io::stdout();
    terminal::enable_raw_mode().map_err(|e| e.to_string())?;
    execute!(out, terminal::EnterAlternateScreen, cursor::Hide).map_err(|e| e.to_string())?;
    let mut background = false;
    let result = (|| -> Result<(), String> {
        loop {
            let state = rig.wallet.current();
            draw(&mut out, &state, rig.backend.is_up(), &log)?;
            let wait = state
                .refresh_at_ms()
                .map(|at| (at - SystemClock.now_ms()).clamp(50, 1_000))
                .unwrap_or(1_000);
            if !event::poll(Duration::from_millis(wait as u64)).map_err(|e| e.to_string())? {
                continue;
            }
            let Event::Key(key) = event::read().map_err(|e| e.to_string())? else {
                continue;
            };
            if key.kind != KeyEventKind::Press {
                continue;
            }
            let note = match key.code {
                KeyCode::Char('q') => return Ok(()),
                KeyCode::Char('s') => {
                    rig.wallet.handle(WalletEvent::Screenshot);
                    "screenshot: shown code voided (when online), fresh code".to_string()
                }
                KeyCode::Char('b') => {
                    background = !background;
                    let event = if background {
                        WalletEvent::Background
                    } else {
                        WalletEvent::Foreground
                    };
                    rig.wallet.handle(event);
                    format!(
                        "app {}",
                        if background {
                            "in background: code hidden"
                        } else {
                            "in foreground: fresh code"
                        }
                    )
                }
                KeyCode::Char('n') => {
                    let up = !rig.backend.is_up();
                    rig.network(up);
                    format!("network {}", if up { "on" } else { "off" })
                }
                KeyCode::Char('p') => match rig.wallet.current() {
                    WalletState::Code(code) => {
                        let decision = rig.pay(&code.digits)?;
                        rig.wallet.handle(WalletEvent::PaymentCompleted);
                        format!("merchant scanned {} → issuer: {decision}", code.display)
                    }
                    other => format!("nothing to scan ({other:?})"),
                },
                _ => continue,
            };
            log.push(note);
        }
    })();
    let _ = execute!(out, cursor::Show, terminal::LeaveAlternateScreen);
    let _ = terminal::disable_raw_mode();
    let _ = rig.wallet.logout();
    result
}

fn draw(out: &mut impl Write, state: &WalletState, online: bool, log: &[String]) -> Result<(), String> {
    use crossterm::{cursor, queue, terminal};
    let mut lines = vec![format!(
        "paycode demo — network {}   [s] screenshot  [b] background/foreground  [n] network  [p] pay  [q] quit",
        if online { "ON" } else { "OFF" }
    )];
    lines.push(String::new());
    match state {
        WalletState::Code(code) => {
            let parsed = PaymentCode::parse(&code.digits).map_err(|e| e.to_string())?;
            lines.extend(crate::render::qr_lines(&parsed));
            lines.push(String::new());
            lines.extend(crate::render::barcode_lines(&parsed, 3));
            let left = (code.refresh_at_ms - SystemClock.now_ms()).max(0) / 1000;
            lines.push(format!(
                "   {}   ({:?}, new code in {left} s)",
                code.display, code.source
            ));
        }
        other => lines.push(format!("   {other:?}")),
    }
    lines.push(String::new());
    lines.extend(log.iter().rev().take(6).map(|l| format!(" • {l}")));
    queue!(
        out,
        terminal::Clear(terminal::ClearType::All),
        cursor::MoveTo(0, 0)
    )
    .map_err(|e| e.to_string())?;
    for line in lines {
        write!(out, "{line}\r\n").map_err(|e| e.to_string())?;
    }
    out.flush().map_err(|e| e.to_string())
}
