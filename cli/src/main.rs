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
    /// Run the issuer (same as the paycode-server binary; PAYCODE_* variables configure it).
    Serve,
    /// A wallet on this machine, secrets in the OS keyring, talking to an issuer.
    Wallet {
        /// Issuer base URL.
        #[arg(long, default_value = "http://127.0.0.1:8080", env = "PAYCODE_ISSUER")]
        issuer: String,
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
        Command::Wallet { issuer, action } => wallet(&issuer, action),
    };
    if let Err(message) = result {
        eprintln!("paycode: {message}");
        std::process::exit(1);
    }
}

fn serve() -> Result<(), String> {
    // The issuer binary is the single implementation; `paycode serve` runs it.
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let server = exe.with_file_name("paycode-server");
    let status = std::process::Command::new(&server)
        .arg("serve")
        .status()
        .map_err(|e| {
            format!(
                "cannot start {}: {e} (build it with cargo build -p paycode-server)",
                server.display()
            )
        })?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("issuer exited with {status}"))
    }
}

fn wallet(issuer: &str, action: WalletAction) -> Result<(), String> {
    let store = KeyringStore::new("paycode-cli").map_err(|e| e.to_string())?;
    let config = WalletConfig {
        namespace: "wallet".into(),
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
