//! The `switchyard` command: run the daemon, check a configuration, make keys, ask routing
//! scripts about payments, and test connector plugins against their fixtures.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use switchyard::config::Config;
use switchyard::keys::{key_hash, new_publishable_key, new_secret_key};
use tracing_subscriber::EnvFilter;

/// A payment makes and frees a few hundred small allocations (request and answer bodies, wire
/// types, statements); mimalloc's per-thread free lists serve them at a fraction of the system
/// allocator's cost.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "switchyard", version, about = "A payment-routing daemon with a Hyperswitch-compatible API")]
struct Cli {
    /// The configuration file (default: config/switchyard.toml).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon (the default).
    Serve,
    /// Validate the configuration and list every problem with its path.
    Check,
    /// Show how a profile's routing decides a payment, or replay stored payments with a new
    /// script. Touches nothing.
    #[command(args_conflicts_with_subcommands = true)]
    Route {
        #[command(subcommand)]
        replay: Option<RouteCommand>,
        /// The profile: `merchant/profile`, or the profile id alone when unambiguous.
        #[arg(long)]
        profile: Option<String>,
        /// A payment: a `POST /v2/payments` body, a routing view, or a golden case (a view under
        /// `payment`, with `accounts`, `health` and `now`).
        #[arg(long)]
        payment: Option<PathBuf>,
        /// A script to use instead of the profile's own.
        #[arg(long)]
        script: Option<PathBuf>,
    },
    /// Work on connector plugins.
    Plugin {
        #[command(subcommand)]
        command: PluginCommand,
    },
    /// Make keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
}

#[derive(Subcommand)]
enum RouteCommand {
    /// Re-evaluate stored payments with a candidate script and show which decisions would change;
    /// exits non-zero when the script fails on any of them or changes more than --max-changed.
    Replay(switchyard::cli::route::ReplayArgs),
}

#[derive(Subcommand)]
enum PluginCommand {
    /// Run a plugin file against its fixtures (`<name>.fixtures.json` beside it).
    Test { file: PathBuf },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Print a fresh secret API key and the config line that stores its hash.
    New {
        /// A name for the key, shown in the config line.
        #[arg(long, default_value = "default")]
        name: String,
        /// Print a publishable key (for client-side code) and its config line instead.
        #[arg(long)]
        publishable: bool,
        /// Print a vault key (the AES-256 key saved cards are sealed with) instead.
        #[arg(long, conflicts_with = "publishable")]
        vault: bool,
    },
}

fn load(path: Option<&std::path::Path>) -> Result<Config, ExitCode> {
    Config::load(path).map_err(|problems| {
        for p in problems {
            eprintln!("{p}");
        }
        ExitCode::FAILURE
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match load(cli.config.as_deref()) {
        Ok(c) => c,
        Err(code) => return code,
    };
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(config),
        Command::Check => {
            let problems = switchyard::app::snapshot::problems(&config);
            for p in &problems {
                println!("{p}");
            }
            if problems.is_empty() {
                println!("configuration is valid");
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Command::Route { replay: Some(RouteCommand::Replay(args)), .. } => {
            let outcome =
                tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string()).and_then(
                    |rt| rt.block_on(switchyard::cli::route::replay_stored(&config, &args)).map_err(|e| e.to_string()),
                );
            match outcome {
                Ok(outcome) => {
                    print!("{}", outcome.report);
                    if outcome.passed {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::FAILURE
                    }
                }
                Err(e) => print_result(Err(e)),
            }
        }
        Command::Route { replay: None, profile, payment, script } => match (profile, payment) {
            (Some(profile), Some(payment)) => {
                let result = switchyard::cli::route::dry_run(&config, &profile, &payment, script.as_deref());
                print_result(result.map_err(|e| e.to_string()))
            }
            _ => {
                eprintln!("route needs --profile and --payment (or: route replay --profile P --script FILE)");
                ExitCode::FAILURE
            }
        },
        Command::Plugin { command: PluginCommand::Test { file } } => {
            print_result(switchyard::cli::plugin::test(&file, switchyard::lua::Budget::of(&config.lua)))
        }
        Command::Keys { command: KeysCommand::New { vault: true, .. } } => {
            println!("vault key (keep it secret and safe: saved cards cannot be opened without it):");
            println!("  export SWITCHYARD_VAULT_KEY={}", switchyard::vault::new_key());
            println!("config lines:");
            println!("  [vault]");
            println!("  key = {{ env = \"SWITCHYARD_VAULT_KEY\" }}");
            ExitCode::SUCCESS
        }
        Command::Keys { command: KeysCommand::New { publishable: true, .. } } => {
            let key = new_publishable_key();
            println!("publishable key: {key}");
            println!("config line, under [merchants.<merchant id>]:");
            println!("  publishable_key = \"{key}\"");
            ExitCode::SUCCESS
        }
        Command::Keys { command: KeysCommand::New { name, .. } } => match config.security.hash_secret() {
            Ok(secret) => {
                let key = new_secret_key();
                println!("secret key (shown once, give it to the merchant): {key}");
                println!("config line, under [merchants.<merchant id>] api_keys = [ … ]:");
                println!("  {{ name = \"{name}\", hash = \"{}\" }},", key_hash(secret.expose().as_bytes(), &key));
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("security.api_key_hash_secret: {e}");
                ExitCode::FAILURE
            }
        },
    }
}

fn print_result(result: Result<String, String>) -> ExitCode {
    match result {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

fn serve(config: Config) -> ExitCode {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&config.log.level));
    // Colour only for a person at a terminal: a file or a log collector gets plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_ansi(ansi);
    if config.log.json {
        builder.json().init();
    } else {
        builder.init();
    }
    if config.source.is_none() {
        let cwd = std::env::current_dir().map(|d| d.display().to_string()).unwrap_or_default();
        tracing::warn!(%cwd, "no configuration file at {}: serving the built-in defaults", switchyard::config::DEFAULT_CONFIG_PATH);
    }
    switchyard::server::make_room_for(config.server.max_connections);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let grace = std::time::Duration::from_secs(config.server.shutdown_grace_secs);
    runtime.block_on(async {
        let mut running = match switchyard::app::start(config).await {
            Ok(r) => r,
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::FAILURE;
            }
        };
        let stop = running.stopper();
        let (signalled, on_signal) = tokio::sync::oneshot::channel();
        if let Err(e) = watch_signals(grace, move || {
            let _ = stop.send(());
            let _ = signalled.send(());
        }) {
            eprintln!("cannot watch for signals: {e}");
            return ExitCode::FAILURE;
        }
        match running.wait(on_signal, grace).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("{e}");
                ExitCode::FAILURE
            }
        }
    })
}

/// How long past the grace the process may take to close its store before it exits regardless.
const CLOSING_MARGIN: std::time::Duration = std::time::Duration::from_secs(5);

/// Waits for SIGTERM or Ctrl-C on a thread of its own, so that a signal is seen even when every
/// worker of the runtime is busy; then calls `stopping` and, should the process still be running
/// when the grace and a margin for closing the store have passed, exits it: a stop is always
/// bounded, whatever holds the workers.
fn watch_signals(grace: std::time::Duration, stopping: impl FnOnce() + Send + 'static) -> std::io::Result<()> {
    let signals = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    std::thread::Builder::new().name("signals".into()).spawn(move || {
        signals.block_on(shutdown_signal());
        tracing::info!("shutting down: no new connections; requests under way may finish");
        stopping();
        std::thread::sleep(grace + CLOSING_MARGIN);
        tracing::error!(?grace, "still running past the shutdown grace; exiting now");
        std::process::exit(1);
    })?;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => return ctrl_c.await.unwrap_or(()),
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
