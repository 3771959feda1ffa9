//! `nd-hub`: the dumpling hub daemon. A thin wrapper over the `nd_hub` library.

use std::process::ExitCode;
use std::time::Duration;

use clap::{ArgAction, Parser, ValueEnum};

/// The dumpling hub.
///
/// Sends dumplings received from all kitchens (usually running instances of
/// nd-sniff) to all dumpling eaters. Kitchens connect to --in-port, eaters to
/// --out-port. Wire-compatible with netdumplings 0.5.1.
#[derive(Parser, Debug)]
#[command(
    name = "nd-hub",
    version,
    disable_help_flag = true,
    max_term_width = 100
)]
struct Args {
    /// Address where nd-hub will send dumplings from (every address it resolves to is bound).
    #[arg(short = 'a', long, value_name = "HOSTNAME", default_value = nd_protocol::HUB_HOST)]
    address: String,
    /// Port to receive incoming dumplings from.
    #[arg(short = 'i', long, value_name = "PORT", default_value_t = nd_protocol::HUB_IN_PORT)]
    in_port: u16,
    /// Port to send outgoing dumplings on.
    #[arg(short = 'o', long, value_name = "PORT", default_value_t = nd_protocol::HUB_OUT_PORT)]
    out_port: u16,
    /// Frequency (in seconds) to send status dumplings.
    #[arg(short = 'f', long, value_name = "SECONDS", default_value_t = nd_protocol::HUB_STATUS_FREQ_SECS as f64)]
    status_freq: f64,
    /// Log format on stderr.
    #[arg(long, value_enum, default_value_t = LogFormat::Human)]
    log_format: LogFormat,
    /// Largest WebSocket message accepted, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = nd_hub::DEFAULT_MAX_MESSAGE_SIZE)]
    max_message_size: usize,
    /// Seconds a new connection has to send its hello.
    #[arg(long, value_name = "SECONDS", default_value_t = nd_hub::DEFAULT_HELLO_TIMEOUT.as_secs_f64())]
    hello_timeout: f64,
    /// Dumplings an eater may have waiting before --slow-eater applies.
    #[arg(long, value_name = "COUNT", default_value_t = nd_hub::DEFAULT_EATER_QUEUE)]
    eater_queue: usize,
    /// Bytes an eater may have waiting before --slow-eater applies.
    #[arg(long, value_name = "BYTES", default_value_t = nd_hub::DEFAULT_EATER_QUEUE_BYTES)]
    eater_queue_bytes: usize,
    /// What to do with an eater whose queue is full.
    #[arg(long, value_enum, default_value_t = SlowEater::DropOldest)]
    slow_eater: SlowEater,
    /// Serve the live dashboard (a web page, itself an eater of this hub) on this port.
    #[arg(long, value_name = "PORT")]
    web: Option<u16>,
    /// Print help (netdumplings' tools use --help only; -h is not help).
    #[arg(long, action = ArgAction::Help)]
    help: Option<bool>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum LogFormat {
    Human,
    Json,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum SlowEater {
    /// Drop the eater's oldest queued dumplings and count them.
    DropOldest,
    /// Close the eater's connection (code 1008) with a reason.
    Disconnect,
}

fn secs(v: f64, flag: &str) -> Result<Duration, String> {
    Duration::try_from_secs_f64(v)
        .map_err(|_| format!("{flag} must be a non-negative number of seconds"))
        .and_then(|d| {
            if d.is_zero() {
                Err(format!("{flag} must be greater than 0"))
            } else {
                Ok(d)
            }
        })
}

fn main() -> ExitCode {
    let args = Args::parse();
    init_logging(args.log_format);
    let config = match build_config(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("nd-hub: {e}");
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("nd-hub: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    rt.block_on(async move {
        let hub = match nd_hub::bind(config).await {
            Ok(h) => h,
            Err(e) => {
                // netdumplings prints "hub error: ..." and exits 1.
                tracing::error!("hub error: {e:#}");
                eprintln!("hub error: {e:#}");
                return ExitCode::FAILURE;
            }
        };
        match hub.run(shutdown_signal()).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("hub error: {e:#}");
                ExitCode::FAILURE
            }
        }
    })
}

fn build_config(args: &Args) -> Result<nd_hub::Config, String> {
    Ok(nd_hub::Config {
        address: args.address.clone(),
        in_port: args.in_port,
        out_port: args.out_port,
        status_freq: secs(args.status_freq, "--status-freq")?,
        max_message_size: args.max_message_size,
        hello_timeout: secs(args.hello_timeout, "--hello-timeout")?,
        eater_queue: args.eater_queue,
        eater_queue_bytes: args.eater_queue_bytes,
        slow_eater: match args.slow_eater {
            SlowEater::DropOldest => nd_hub::SlowEaterPolicy::DropOldest,
            SlowEater::Disconnect => nd_hub::SlowEaterPolicy::Disconnect,
        },
        web_port: args.web,
    })
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
}
