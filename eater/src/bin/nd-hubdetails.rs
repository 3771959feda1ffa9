//! `nd-hubdetails`: waits for one SystemStatusChef dumpling, prints its
//! payload as netdumplings' nd-hubdetails does (sorted, indented JSON), and
//! exits, closing with 4102 "dumpling eater is full".

#![forbid(unsafe_code)]

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use clap::{ArgAction, Parser};
use nd_eater::{pretty, CloseCode, EaterConfig, EaterError};

/// A dumpling eater.
///
/// Connects to nd-hub (the dumpling hub) and waits for a single SystemStatus
/// dumpling which it displays the full contents of and then exits.
#[derive(Parser, Debug)]
#[command(
    name = "nd-hubdetails",
    version,
    disable_help_flag = true,
    max_term_width = 100
)]
struct Args {
    /// Address where nd-hub is sending dumplings from (HOST:PORT, or a ws:// or wss:// URL).
    #[arg(
        short = 'h',
        long,
        value_name = "HOST:PORT",
        default_value = "localhost:11348"
    )]
    hub: String,
    /// Dumpling eater name for this tool when connecting to nd-hub.
    #[arg(
        short = 'n',
        long,
        value_name = "EATER_NAME",
        default_value = "detailseater"
    )]
    eater_name: String,
    /// Print colour output (default when stdout is a terminal).
    #[arg(long, overrides_with = "no_color")]
    color: bool,
    /// Never print colour.
    #[arg(long)]
    no_color: bool,
    /// Print the payload as one line of JSON (for jq), nothing else on stdout.
    #[arg(long)]
    json: bool,
    /// Give up (exit 1) after this many seconds without a status dumpling;
    /// 0 waits forever, as netdumplings did.
    #[arg(long, value_name = "SECONDS", default_value_t = 0)]
    timeout: u64,
    #[command(flatten)]
    access: nd_eater::cli::HubAccess,
    /// Print help (netdumplings' tools use --help only; -h is --hub).
    #[arg(long, action = ArgAction::Help)]
    help: Option<bool>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    nd_eater::cli::run("nd-hubdetails", run(args))
}

async fn run(args: Args) -> ExitCode {
    let color = !args.no_color && !args.json && std::io::stdout().is_terminal();
    let config = EaterConfig::new(&args.hub, &args.eater_name).chef("SystemStatusChef");
    let mut eater = match args.access.connect("nd-hubdetails", config).await {
        Ok(e) => e,
        Err(code) => return code,
    };
    let mut out = std::io::stdout().lock();
    if !args.json {
        let _ = writeln!(out, "Connected to nd-hub at {}", eater.url());
        let _ = writeln!(out, "Waiting for a SystemStatus dumpling...");
        let _ = out.flush();
    }
    let timeout = match args.timeout {
        0 => Duration::MAX,
        s => Duration::from_secs(s),
    };
    let wait = async {
        loop {
            match eater.next().await {
                Some(Err(EaterError::Invalid(e))) => tracing::error!("invalid dumpling: {e}"),
                other => return other,
            }
        }
    };
    let next = tokio::select! {
        n = tokio::time::timeout(timeout, wait) => n,
        _ = nd_eater::cli::interrupted() => {
            eater.close(CloseCode::ConnectionCancelled).await;
            return ExitCode::SUCCESS;
        }
    };
    match next {
        Ok(Some(Ok(d))) => {
            let _ = if args.json {
                writeln!(out, "{}", d.payload.get())
            } else {
                writeln!(out, "\n{}\n", pretty::payload(&d, color))
            };
            let _ = out.flush();
            eater.close(CloseCode::EaterFull).await;
            ExitCode::SUCCESS
        }
        Ok(Some(Err(e))) => {
            let _ = writeln!(out, "\nLost connection to nd-hub: {e}");
            ExitCode::FAILURE
        }
        Ok(None) => {
            let reason = eater.close_reason().unwrap_or("").to_string();
            let _ = writeln!(out, "\nLost connection to nd-hub: {reason}");
            ExitCode::FAILURE
        }
        Err(_) => {
            eprintln!("nd-hubdetails: no status dumpling within {}s", args.timeout);
            eater.close(CloseCode::ConnectionCancelled).await;
            ExitCode::FAILURE
        }
    }
}
