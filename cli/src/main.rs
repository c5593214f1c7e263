//! `paycode`: the demo, the issuer, and a hands-on wallet.

#![forbid(unsafe_code)]

mod demo;
mod issuer;
mod render;
mod switch;

use std::sync::Arc;

use clap::{Parser, Subcommand};
use paycode_core::vault::KeyringStore;
use paycode_core::{SystemClock, Wallet, WalletConfig, WalletEvent, WalletState};
use paycode_http::HttpBackend;

#[derive(Parser)]
#[command(name = "paycode", about = "Offline payment codes: demo, issuer, wallet")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// An issuer, a wallet (secrets in the OS keyring) and a merchant, in your terminal.
    Demo {
        /// Play the story without a terminal; exit 0 only if every step behaved as expected.
        #[arg(long)]
        script: bool,
    },
    /// Run the issuer in this process, as `paycode-server serve` does: PAYCODE_* variables
    /// configure it (docs/API.md); SIGTERM or Ctrl-C stops it gracefully.
    Serve,
    /// A wallet on this machine, secrets in the OS keyring, talking to an issuer.
    Wallet {
        /// Issuer base URL.
        #[arg(long, default_value = "http://127.0.0.1:8080", env = "PAYCODE_ISSUER")]
        issuer: String,
        /// Which of this account's wallets: each profile (1..=32 of A-Z a-z 0-9 _ -) has its own
        /// device and secrets in the keyring.
        #[arg(long, default_value = "default", env = "PAYCODE_WALLET_PROFILE", value_parser = profile_name)]
        profile: String,
        #[command(subcommand)]
        action: WalletAction,
    },
}

#[derive(Subcommand)]
enum WalletAction {
    /// Provision this machine's wallet with a login token from the issuer.
    Login { token: String },
    /// Show the current code.
    Show,
    /// A new code, as after a screenshot (voids the previous one at the issuer).
    Screenshot,
    /// Top up credentials and learn the issuer's time.
    Sync,
    /// Pause payment codes.
    Pause,
    /// Resume payment codes.
    Resume,
    /// Wipe the wallet and revoke the device.
    Logout,
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo { script: true } => demo::script(),
        Command::Demo { script: false } => demo::interactive(),
        Command::Serve => serve(),
        Command::Wallet {
            issuer,
            profile,
            action,
        } => wallet(&issuer, &profile, action),
    };
    if let Err(message) = result {
        eprintln!("paycode: {message}");
        std::process::exit(1);
    }
}

fn serve() -> Result<(), String> {
    // The issuer is a library: run it here, so that a signal to this process stops it.
    paycode_server::init_logging();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?
        .block_on(paycode_server::serve_from_env())
}

/// A profile name: 1..=32 of `[A-Za-z0-9_-]`.
fn profile_name(text: &str) -> Result<String, String> {
    let ok = (1..=32).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(text.to_owned())
    } else {
        Err("a profile is 1 to 32 of A-Z a-z 0-9 _ -".into())
    }
}

/// The keyring namespace of a profile. "default" keeps the name wallets had before profiles.
fn profile_namespace(profile: &str) -> String {
    if profile == "default" {
        "wallet".into()
    } else {
        // Profile names have no '.', so no namespace is a prefix of another's entry names.
        format!("wallet-{profile}")
    }
}

fn wallet(issuer: &str, profile: &str, action: WalletAction) -> Result<(), String> {
    let store = KeyringStore::new("paycode-cli").map_err(|e| e.to_string())?;
    let config = WalletConfig {
        namespace: profile_namespace(profile),
        platform: "paycode cli".into(),
        ..WalletConfig::default()
    };
    let wallet = Wallet::new(
        config,
        Arc::new(store),
        Arc::new(HttpBackend::new(issuer)),
        Arc::new(SystemClock),
    );
    let print = |state: WalletState| match state {
        WalletState::Code(code) => println!("{}  ({:?})", code.display, code.source),
        other => println!("{other:?}"),
    };
    match action {
        WalletAction::Login { token } => wallet.provision(&token).map_err(|e| e.to_string())?,
        WalletAction::Show => print(wallet.current()),
        WalletAction::Screenshot => {
            print(wallet.handle(WalletEvent::Screenshot));
            // Give the background void a moment to reach the issuer before the process ends.
            std::thread::sleep(std::time::Duration::from_millis(500));
        }
        WalletAction::Sync => wallet.sync().map_err(|e| e.to_string())?,
        WalletAction::Pause => wallet.pause().map_err(|e| e.to_string())?,
        WalletAction::Resume => wallet.resume().map_err(|e| e.to_string())?,
        WalletAction::Logout => {
            let confirmed = wallet.logout().map_err(|e| e.to_string())?;
            println!(
                "logged out{}",
                if confirmed {
                    ""
                } else {
                    " (issuer not reached: device not revoked yet)"
                }
            );
        }
    }
    Ok(())
}
