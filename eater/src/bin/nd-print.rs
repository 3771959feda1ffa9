//! `nd-print`: prints every dumpling the hub sends, as netdumplings' nd-print.

#![forbid(unsafe_code)]

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use clap::{ArgAction, Parser};
use nd_eater::{pretty, CloseCode, Driver, EaterConfig};

/// A dumpling eater.
///
/// Connects to nd-hub (the dumpling hub) and prints information on all
/// received dumplings.
#[derive(Parser, Debug)]
#[command(
    name = "nd-print",
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
    /// Restrict dumplings to those made by this chef (repeatable). Default: all chefs.
    #[arg(short = 'c', long = "chef", value_name = "CHEF_NAME")]
    chefs: Vec<String>,
    /// Restrict dumplings to those emitted by this kitchen (repeatable). Default: all kitchens.
    #[arg(short = 'k', long = "kitchen", value_name = "KITCHEN_NAME")]
    kitchens: Vec<String>,
    /// Dumpling eater name for this tool when connecting to nd-hub.
    #[arg(
        short = 'n',
        long,
        value_name = "EATER_NAME",
        default_value = "printereater"
    )]
    eater_name: String,
    /// Print interval dumplings (default).
    #[arg(long, overrides_with = "no_interval_dumplings")]
    interval_dumplings: bool,
    /// Do not print interval dumplings.
    #[arg(long)]
    no_interval_dumplings: bool,
    /// Print packet dumplings (default).
    #[arg(long, overrides_with = "no_packet_dumplings")]
    packet_dumplings: bool,
    /// Do not print packet dumplings.
    #[arg(long)]
    no_packet_dumplings: bool,
    /// Print the dumpling payload (default).
    #[arg(long, overrides_with = "no_payload")]
    payload: bool,
    /// Do not print the dumpling payload.
    #[arg(long)]
    no_payload: bool,
    /// Print colour output (default when stdout is a terminal).
    #[arg(long, overrides_with = "no_color")]
    color: bool,
    /// Never print colour.
    #[arg(long)]
    no_color: bool,
    /// Print each dumpling as one line of JSON (for jq), nothing else on stdout.
    #[arg(long)]
    json: bool,
    /// Exit after printing N dumplings (closes with 4102 "dumpling eater is full").
    #[arg(long, value_name = "N")]
    count: Option<u64>,
    /// Reconnect (with backoff) when the hub goes away, instead of exiting.
    #[arg(long)]
    reconnect: bool,
    #[command(flatten)]
    access: nd_eater::cli::HubAccess,
    /// Print help (netdumplings' tools use --help only; -h is --hub).
    #[arg(long, action = ArgAction::Help)]
    help: Option<bool>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    nd_eater::cli::run("nd-print", run(args))
}

async fn run(args: Args) -> ExitCode {
    let color = !args.no_color && !args.json && std::io::stdout().is_terminal();
    let mut config = EaterConfig::new(&args.hub, &args.eater_name).reconnect(args.reconnect);
    config.chefs = args.chefs.clone();
    config.kitchens = args.kitchens.clone();
    let mut eater = match args.access.connect("nd-print", config).await {
        Ok(e) => e,
        Err(code) => return code,
    };
    let mut out = std::io::stdout().lock();
    if !args.json {
        let _ = writeln!(out, "Connected to nd-hub at {}", eater.url());
        let _ = writeln!(out, "Waiting for dumplings...\n");
        let _ = out.flush();
    }
    let mut printed = 0u64;
    loop {
        let next = tokio::select! {
            n = eater.next() => n,
            _ = nd_eater::cli::interrupted() => {
                eater.close(CloseCode::ConnectionCancelled).await;
                return ExitCode::SUCCESS;
            }
        };
        let d = match next {
            Some(Ok(d)) => d,
            Some(Err(nd_eater::EaterError::Invalid(e))) => {
                tracing::error!("invalid dumpling: {e}");
                continue;
            }
            Some(Err(e)) => {
                if !args.json {
                    let _ = writeln!(out, "\nLost connection to nd-hub: {e}");
                }
                return ExitCode::FAILURE;
            }
            None => {
                if !args.json {
                    let _ = writeln!(
                        out,
                        "\nLost connection to nd-hub: {}",
                        eater.close_reason().unwrap_or("")
                    );
                }
                return ExitCode::SUCCESS;
            }
        };
        let wanted = match d.metadata.driver {
            Driver::Interval => !args.no_interval_dumplings,
            Driver::Packet => !args.no_packet_dumplings,
        };
        if !wanted {
            continue;
        }
        let ok = if args.json {
            match serde_json::to_string(&d) {
                Ok(line) => writeln!(out, "{line}"),
                Err(_) => Ok(()),
            }
        } else {
            let mut r = writeln!(out, "{}", pretty::summary(&d, color));
            if r.is_ok() && !args.no_payload {
                r = writeln!(out, "\n{}\n", pretty::payload(&d, color));
            }
            r
        };
        // stdout closed (e.g. `| head`): leave quietly.
        if ok.and_then(|_| out.flush()).is_err() {
            eater.close(CloseCode::ConnectionCancelled).await;
            return ExitCode::SUCCESS;
        }
        printed += 1;
        if args.count.is_some_and(|n| printed >= n) {
            eater.close(CloseCode::EaterFull).await;
            return ExitCode::SUCCESS;
        }
    }
}
