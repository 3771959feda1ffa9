//! `nd-hubstatus`: one live line of the hub's status, as netdumplings'
//! nd-hubstatus: every SystemStatusChef dumpling rewrites it in place
//! (`\r`), with uptime, dumplings in and out, kitchens and eaters; plus
//! what the Rust hub adds to its status (dumplings dropped for slow eaters).

#![forbid(unsafe_code)]

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use clap::{ArgAction, Parser};
use nd_eater::{CloseCode, EaterConfig, EaterError};

const BOLD: &str = "\x1b[1m";
const RESET: &str = "\x1b[0m";

/// A dumpling eater.
///
/// Connects to nd-hub (the dumpling hub) and continually prints summary
/// status information from any SystemStatusChef dumplings. This is a system
/// monitoring dumpling eater which can be used to keep an eye on nd-hub.
#[derive(Parser, Debug)]
#[command(
    name = "nd-hubstatus",
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
        default_value = "statuseater"
    )]
    eater_name: String,
    /// Print colour output (default when stdout is a terminal).
    #[arg(long, overrides_with = "no_color")]
    color: bool,
    /// Never print colour.
    #[arg(long)]
    no_color: bool,
    /// One status per line instead of rewriting one line (default when
    /// stdout is not a terminal, e.g. a log file).
    #[arg(long)]
    lines: bool,
    /// Exit after N status dumplings.
    #[arg(long, value_name = "N")]
    count: Option<u64>,
    #[command(flatten)]
    access: nd_eater::cli::HubAccess,
    /// Print help (netdumplings' tools use --help only; -h is --hub).
    #[arg(long, action = ArgAction::Help)]
    help: Option<bool>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    nd_eater::cli::run("nd-hubstatus", run(args))
}

/// The status line for one SystemStatusChef payload.
fn status_line(payload: &serde_json::Value, color: bool) -> String {
    let bold = |v: String| {
        if color {
            format!("{BOLD}{v}{RESET}")
        } else {
            v
        }
    };
    let num = |key: &str| match &payload[key] {
        serde_json::Value::Null => "?".to_string(),
        v => v.to_string(),
    };
    let uptime = payload["server_uptime"].as_f64().unwrap_or(0.0).max(0.0) as u64;
    let (h, m, s) = (uptime / 3600, uptime / 60 % 60, uptime % 60);
    let mut line = format!(
        "{}  uptime: {}  dumplings in: {}  out: {}  kitchens: {}  eaters: {} ",
        chrono::Local::now().format("%Y-%m-%d %H:%M:%S"),
        bold(format!("{h:02}:{m:02}:{s:02}")),
        bold(num("total_dumplings_in")),
        bold(num("total_dumplings_out")),
        bold(num("dumpling_kitchen_count")),
        bold(num("dumpling_eater_count")),
    );
    // Our hub also counts what it dropped for eaters too slow to keep up.
    if let Some(dropped) = payload.get("total_dumplings_dropped") {
        line.push_str(&format!(" dropped: {} ", bold(dropped.to_string())));
    }
    line
}

async fn run(args: Args) -> ExitCode {
    let terminal = std::io::stdout().is_terminal();
    let color = !args.no_color && terminal;
    let in_place = terminal && !args.lines;
    let config = EaterConfig::new(&args.hub, &args.eater_name).chef("SystemStatusChef");
    let mut eater = match args.access.connect("nd-hubstatus", config).await {
        Ok(e) => e,
        Err(code) => return code,
    };
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "nd-hub status from {}", eater.url());
    let _ = write!(out, "Waiting for data... ");
    let _ = out.flush();
    let mut seen = 0u64;
    loop {
        let next = tokio::select! {
            n = eater.next() => n,
            _ = nd_eater::cli::interrupted() => {
                let _ = writeln!(out);
                eater.close(CloseCode::ConnectionCancelled).await;
                return ExitCode::SUCCESS;
            }
        };
        match next {
            Some(Ok(d)) => {
                let line = status_line(&d.payload_value(), color);
                let written = if in_place {
                    write!(out, "\r{line}")
                } else {
                    writeln!(out, "{}{line}", if seen == 0 { "\n" } else { "" })
                };
                if written.and_then(|_| out.flush()).is_err() {
                    eater.close(CloseCode::ConnectionCancelled).await;
                    return ExitCode::SUCCESS;
                }
                seen += 1;
                if args.count.is_some_and(|n| seen >= n) {
                    let _ = writeln!(out);
                    eater.close(CloseCode::EaterFull).await;
                    return ExitCode::SUCCESS;
                }
            }
            Some(Err(EaterError::Invalid(e))) => tracing::error!("invalid dumpling: {e}"),
            Some(Err(e)) => {
                let _ = writeln!(out, "\nLost connection to nd-hub: {e}");
                return ExitCode::FAILURE;
            }
            None => {
                let reason = eater.close_reason().unwrap_or("").to_string();
                let _ = writeln!(out, "\nLost connection to nd-hub: {reason}");
                return ExitCode::SUCCESS;
            }
        }
    }
}
