//! `nd-hub`: the dumpling hub daemon. A thin wrapper over the `nd_hub` library:
//! flags and config file, logging, signals, readiness, exit codes.
//!
//! # Exit codes (for supervisors)
//!
//! - 0: stopped by SIGTERM/SIGINT after closing every connection cleanly.
//! - 1: a runtime failure, e.g. a port already in use (worth a restart).
//! - 2: bad command line (clap's usage error).
//! - 78 (`EX_CONFIG`): the configuration is unusable: the config file cannot
//!   be read or parsed, a value is out of range, a token file or the TLS
//!   certificate cannot be loaded. Restarting will not help; the systemd
//!   unit lists 2 and 78 in `RestartPreventExitStatus=`.
//!
//! # Signals
//!
//! SIGTERM and SIGINT drain: every peer gets a close frame (1001), the hub
//! waits briefly for the answers, then exits 0. SIGHUP re-reads `--config`
//! (with the same command line laid over it) and applies it without
//! dropping a connection; a bad file is logged and the running
//! configuration kept. Under systemd (`Type=notify`) the hub reports
//! READY=1 once its ports are bound, RELOADING=1/READY=1 around a reload and
//! STOPPING=1 at shutdown.

#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgAction, Parser};
use nd_hub::{ConfigError, LogFormat, Settings};
use sd_notify::NotifyState;

/// Configuration is unusable (sysexits.h's EX_CONFIG).
const EXIT_CONFIG: u8 = 78;

/// The dumpling hub.
///
/// Sends dumplings received from all kitchens (usually running instances of
/// nd-sniff) to all dumpling eaters. Kitchens connect to --in-port, eaters to
/// --out-port. Wire-compatible with netdumplings 0.5.1.
///
/// Every flag can also be set in the --config file (TOML; the key is the
/// flag's name with underscores: `eater_queue = 5000`); a flag given on the
/// command line wins over the file.
#[derive(Parser, Debug)]
#[command(
    name = "nd-hub",
    version,
    disable_help_flag = true,
    max_term_width = 100
)]
struct Args {
    /// Read settings from this TOML file (again on SIGHUP). See
    /// hub/dist/nd-hub.toml for every key.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Check the configuration (file, token files, TLS certificate) and exit:
    /// 0 if usable, 78 if not.
    #[arg(long)]
    check_config: bool,
    #[command(flatten)]
    settings: Settings,
    /// Print help (netdumplings' tools use --help only; -h is not help).
    #[arg(long, action = ArgAction::Help)]
    help: Option<bool>,
}

impl Args {
    /// The file's settings with the command line laid over them.
    fn settings(&self) -> Result<Settings, ConfigError> {
        let file = match &self.config {
            Some(path) => Settings::from_file(path)?,
            None => Settings::default(),
        };
        Ok(file.merge(self.settings.clone()))
    }

    fn resolve(&self) -> Result<(Settings, nd_hub::Config), ConfigError> {
        let settings = self.settings()?;
        let config = settings.resolve()?;
        Ok((settings, config))
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let (settings, config) = match args.resolve() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("nd-hub: configuration error: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let log_format = settings.log_format.unwrap_or_default();
    init_logging(log_format);
    if args.check_config {
        return match nd_hub::check(&config) {
            Ok(()) => {
                println!("nd-hub: configuration OK");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("nd-hub: configuration error: {e:#}");
                ExitCode::from(EXIT_CONFIG)
            }
        };
    }
    raise_open_file_limit(config.max_connections);
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    // Named workers: `top -H` and profilers tell the hub's threads apart
    // from an eater's or a kitchen's on the same box.
    runtime.thread_name("nd-hub-worker").enable_all();
    // A kitchen's reader wakes its eaters' writers. tokio puts a task woken
    // by a worker in that worker's LIFO slot, which no other worker may
    // steal: every writer then ran on the reader's thread, one core busy,
    // the other idle (seen in `perf`: one nd-hub worker with ~all samples).
    // Without the slot a woken writer goes to the stealable run queue, an
    // idle worker takes it, and reading and writing proceed in parallel:
    // +15-20% dumplings/s in the 1-kitchen, 1-eater fan-out benchmark
    // (medians of 8 runs, three alternating rounds). The knob is behind
    // tokio's `tokio_unstable` cfg, set in .cargo/config.toml.
    #[cfg(tokio_unstable)]
    runtime.disable_lifo_slot();
    let rt = match runtime.build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("nd-hub: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    rt.block_on(async move {
        // SIGHUP's handler is in place before the hub says it is up (in
        // `bind`): a reload asked for as soon as the ports answer must not
        // meet SIGHUP's default action, which ends the process.
        let hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup());
        if let Err(e) = nd_hub::check(&config) {
            tracing::error!("configuration error: {e:#}");
            return ExitCode::from(EXIT_CONFIG);
        }
        let hub = match nd_hub::bind(config).await {
            Ok(h) => h,
            Err(e) => {
                // netdumplings prints "hub error: ..." and exits 1.
                tracing::error!("hub error: {e:#}");
                return ExitCode::FAILURE;
            }
        };
        let handle = hub.handle();
        tokio::spawn(reload_on_sighup(hup, args, log_format, handle));
        notify(&[NotifyState::Ready]);
        let result = hub.run(shutdown_signal()).await;
        match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                tracing::error!("hub error: {e:#}");
                ExitCode::FAILURE
            }
        }
    })
}

/// Tells systemd (if it started us with `Type=notify`); a no-op otherwise.
fn notify(state: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(false, state) {
        tracing::debug!("sd_notify: {e}");
    }
}

/// Re-reads the configuration on every SIGHUP (`hup`: its handler,
/// installed at start-up).
async fn reload_on_sighup(
    hup: std::io::Result<tokio::signal::unix::Signal>,
    args: Args,
    log_format: LogFormat,
    handle: nd_hub::HubHandle,
) {
    let Ok(mut hup) = hup else {
        tracing::warn!("cannot listen for SIGHUP; reloading is off");
        return;
    };
    while hup.recv().await.is_some() {
        tracing::info!("caught SIGHUP; reloading the configuration");
        notify(&[NotifyState::Reloading]);
        let result = handle.reload_from(|| {
            let (settings, config) = args.resolve()?;
            // The logger is set up once; it cannot change format under way.
            if settings.log_format.unwrap_or_default() != log_format {
                anyhow::bail!("log_format changed; restart nd-hub to apply");
            }
            Ok(config)
        });
        match result {
            Ok(()) => {
                tracing::info!("configuration reloaded");
                // A larger max_connections needs more descriptors.
                raise_open_file_limit(handle.max_connections());
            }
            Err(e) => tracing::error!("reload failed, keeping the running configuration: {e:#}"),
        }
        notify(&[NotifyState::Ready]);
    }
}

/// Raises the soft open-file limit to the hard one, if that is needed to
/// hold `max_connections` on both ports (plus a margin for everything else).
fn raise_open_file_limit(max_connections: usize) {
    let wanted = (2 * max_connections + 64) as u64;
    match rlimit::increase_nofile_limit(wanted) {
        Ok(got) if got < wanted => tracing::warn!(
            "open-file limit is {got}, below the {wanted} that max_connections = {max_connections} \
             needs; raise it (LimitNOFILE= under systemd, ulimit -n otherwise)"
        ),
        Ok(_) => {}
        Err(e) => tracing::warn!("cannot raise the open-file limit: {e}"),
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("ND_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour only for a person at a terminal, not in files or journald.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => tracing::warn!("caught SIGINT; shutting down gracefully"),
        _ = term.recv() => tracing::warn!("caught SIGTERM; shutting down gracefully"),
    }
    notify(&[NotifyState::Stopping]);
}
