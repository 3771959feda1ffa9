//! `nd-sniff`: the kitchen. Captures packets (or replays a file), runs them
//! through sandboxed wasm chefs, and sends the dumplings to nd-hub.

#![deny(unsafe_code)]

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::{ArgAction, Parser};
use nd_runtime::capture::{Source, DEFAULT_FILTER};
use nd_runtime::host::{ChefHost, Limits};
use nd_runtime::kitchen::{self, KitchenConfig, Output};
use nd_runtime::progress::ProgressMode;

/// A dumpling sniffer kitchen.
///
/// Sniffs network packets matching the given PCAP-style filter (or replays a
/// capture file) and sends them to chefs, WebAssembly components, for
/// processing into dumplings. Dumplings are then sent to nd-hub for
/// distribution to the dumpling eaters. Live capture likely needs root (or
/// CAP_NET_RAW).
#[derive(Parser, Debug)]
#[command(
    name = "nd-sniff",
    version,
    disable_help_flag = true,
    max_term_width = 100
)]
struct Args {
    /// Dumpling kitchen name to assign to the sniffer.
    #[arg(
        short = 'n',
        long,
        value_name = "KITCHEN_NAME",
        default_value = "default_kitchen"
    )]
    kitchen_name: String,
    /// Address where nd-hub is receiving dumplings (HOST:PORT, or a ws:// or
    /// wss:// URL). Several hubs (`-h hubA,hubB` or `-h hubA -h hubB`):
    /// the kitchen uses the first that answers and, when it goes away,
    /// fails over to the next, re-sending what the lost one had not
    /// acknowledged (hubs federated with --nats store such a dumpling once).
    #[arg(
        short = 'h',
        long,
        value_name = "HOST:PORT",
        default_value = "localhost:11347",
        value_delimiter = ','
    )]
    hub: Vec<String>,
    /// CA certificates (PEM) to trust for a wss:// hub, instead of the system's.
    #[arg(long, value_name = "FILE")]
    ca_file: Option<PathBuf>,
    /// File holding the token for a hub that requires kitchen tokens (its
    /// first line). Default: the ND_HUB_TOKEN environment variable, if set.
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// Network interface to sniff ("all": every interface).
    #[arg(short = 'i', long, value_name = "INTERFACE", default_value = "all")]
    interface: String,
    /// PCAP-style sniffer packet filter.
    #[arg(short = 'f', long, value_name = "PCAP_FILTER", default_value = DEFAULT_FILTER)]
    filter: String,
    /// Replay this pcap/pcapng file instead of sniffing (as fast as possible;
    /// the filter applies only if given explicitly).
    #[arg(short = 'r', long, value_name = "FILE")]
    read: Option<PathBuf>,
    /// With --read: replay at the pace of the capture's timestamps.
    #[arg(long, requires = "read")]
    realtime: bool,
    /// With --read: replay the file N times in a row.
    #[arg(long, requires = "read", value_name = "N", default_value_t = 1)]
    repeat: u32,
    /// Directory of chef components (*.wasm). Default: the standard chefs
    /// (installed beside the binary, or built into it).
    #[arg(long, value_name = "DIR", env = "ND_CHEF_DIR")]
    chef_dir: Option<PathBuf>,
    /// Chef (by name) to deliver packets to (repeatable). Default: all chefs in --chef-dir.
    #[arg(short = 'c', long = "chef", value_name = "CHEF_NAME")]
    chefs: Vec<String>,
    /// List the chefs found in --chef-dir and exit.
    #[arg(short = 'l', long)]
    chef_list: bool,
    /// Interval (in seconds) to poke chefs for their interval dumplings.
    #[arg(short = 'p', long, value_name = "SECONDS", default_value_t = 5.0)]
    poke_interval: f64,
    /// Write dumplings to stdout as JSON lines instead of sending them to nd-hub.
    #[arg(long)]
    print: bool,
    /// Dumplings to hold while nd-hub is unreachable.
    #[arg(long, value_name = "COUNT", default_value_t = nd_runtime::relay::DEFAULT_BUFFER)]
    buffer: usize,
    /// Do not watch --chef-dir for new or changed chefs (hot swap is on by default).
    #[arg(long)]
    no_watch: bool,
    /// Memory cap per chef instance, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = (nd_runtime::host::DEFAULT_MEMORY_LIMIT >> 20) as u64)]
    chef_memory: u64,
    /// CPU deadline per call into a chef, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = nd_runtime::host::DEFAULT_CALL_DEADLINE.as_millis() as u64)]
    chef_deadline: u64,
    /// Largest payload a chef may return, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = nd_runtime::host::DEFAULT_MAX_PAYLOAD)]
    max_payload: usize,
    /// Directory for compiled chefs (default: ~/.cache/netdumplings/chefs).
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// Write a JSON report of the run (packets, drops, every chef's counters) to FILE at exit.
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
    /// Serve Prometheus metrics (/metrics) and readiness (/healthz) on
    /// ADDR (HOST:PORT, or PORT for 127.0.0.1). Not authenticated: keep it
    /// on an internal address.
    #[arg(long, value_name = "ADDR")]
    metrics: Option<String>,
    /// Replay progress on stderr: a bar when stderr is a terminal (auto),
    /// plain lines for scripts and logs (lines), or nothing (off).
    #[arg(long, value_name = "WHEN", default_value = "auto", value_parser = ["auto", "bar", "lines", "off"])]
    progress: String,
    /// Log format on stderr.
    #[arg(long, default_value = "human", value_parser = ["human", "json"])]
    log_format: String,
    /// Print help (as in netdumplings, -h is --hub).
    #[arg(long, action = ArgAction::Help)]
    help: Option<bool>,
}

fn main() -> ExitCode {
    tune_malloc();
    let args = Args::parse();
    init_logging(&args.log_format);
    match run(args) {
        Ok(code) => code,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("nd-sniff: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Heap allocations below this come from glibc's heap, not `mmap`: a
/// batch's byte column (up to 1 MiB) included.
const MMAP_THRESHOLD: i32 = 4 << 20;
/// Free memory at the top of the heap kept for reuse, not returned to the
/// kernel, up to this much.
const TRIM_THRESHOLD: i32 = 32 << 20;
/// Extra heap requested whenever it grows, so it grows less often.
const TOP_PAD: i32 = 8 << 20;

/// Tunes glibc's allocator for how the kitchen uses memory.
///
/// Every batch (~100 KB of columns for 256 packets) is allocated on the
/// capture thread and freed on whichever chef thread drops it last. With
/// glibc's defaults the heap's top kept being trimmed back to the kernel and
/// faulted in again: a replay of 1.27M packets took 12.5k page faults, 3.5k
/// with these settings, and ran 2-4% faster pinned to one core (two sets
/// of alternating runs). The cost: up to [`TRIM_THRESHOLD`] +
/// [`TOP_PAD`] of freed memory stays in the process.
#[allow(unsafe_code)]
fn tune_malloc() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; it runs before any
    // other thread exists. A refused setting (returns 0) keeps the default.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
        libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD);
        libc::mallopt(libc::M_TOP_PAD, TOP_PAD);
    }
}

/// Where the standard chefs are when no `--chef-dir` is given: `chefs/`
/// beside the binary's directory (`target/chefs` for `target/debug/nd-sniff`,
/// as `just rust-chefs` stages them), `share/netdumplings/chefs` for an
/// installed layout (`/usr/bin` -> `/usr/share`, the .deb), or else the
/// copies built into this binary, written out under the cache directory.
#[allow(unsafe_code)] // getuid
fn default_chef_dir(cache_dir: Option<&std::path::Path>) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().ok();
    let root = exe.as_deref().and_then(|e| e.parent()?.parent());
    let candidates = [
        root.map(|p| p.join("chefs")),
        root.map(|p| p.join("share").join("netdumplings").join("chefs")),
    ];
    if let Some(dir) = candidates.into_iter().flatten().find(|p| p.is_dir()) {
        return Ok(dir);
    }
    let root = cache_dir.map(PathBuf::from).unwrap_or_else(|| {
        // No HOME (a bare service): a per-user directory under /tmp.
        // SAFETY: getuid has no preconditions and cannot fail.
        let uid = unsafe { libc::getuid() };
        std::env::temp_dir().join(format!("netdumplings-{uid}"))
    });
    let dir = nd_runtime::standard_chefs::extract(&root)
        .context("cannot write out the built-in standard chefs (pass --chef-dir DIR)")?;
    tracing::debug!("built-in standard chefs: {}", dir.display());
    Ok(dir)
}

fn run(args: Args) -> anyhow::Result<ExitCode> {
    let limits = Limits {
        memory: (args.chef_memory as usize) << 20,
        call_deadline: Duration::from_millis(args.chef_deadline.max(1)),
        max_payload: args.max_payload,
        ..Limits::default()
    };
    let cache_dir = args.cache_dir.clone().or_else(ChefHost::default_cache_dir);
    let chef_dir = match args.chef_dir.clone() {
        Some(d) => d,
        None => default_chef_dir(cache_dir.as_deref())?,
    };
    if args.chef_list {
        println!();
        println!("{}", chef_dir.display());
        for c in nd_runtime::chefs::list_chefs(&chef_dir, limits, cache_dir)? {
            match c.name {
                Ok(name) => println!(
                    "  {name}  ({})",
                    c.path.file_name().unwrap_or_default().to_string_lossy()
                ),
                Err(e) => println!("  error loading {}: {e}", c.path.display()),
            }
        }
        println!();
        return Ok(ExitCode::SUCCESS);
    }
    let poke = Duration::try_from_secs_f64(args.poke_interval)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| anyhow::anyhow!("--poke-interval must be a positive number of seconds"))?;
    let filter_given = std::env::args().any(|a| a == "-f" || a.starts_with("--filter"));
    let source = match &args.read {
        Some(path) => Source::File {
            path: path.clone(),
            filter: filter_given.then(|| args.filter.clone()),
            realtime: args.realtime,
            repeat: args.repeat.max(1),
        },
        None => Source::Live {
            interface: (args.interface != "all").then(|| args.interface.clone()),
            filter: args.filter.clone(),
        },
    };
    let config = KitchenConfig {
        name: args.kitchen_name.clone(),
        progress: match args.progress.as_str() {
            "bar" => ProgressMode::Bar,
            "lines" => ProgressMode::Lines,
            "off" => ProgressMode::Off,
            // A bar for a person watching, not in a log, nor across --print's lines.
            _ if std::io::stderr().is_terminal() && !args.print => ProgressMode::Bar,
            _ => ProgressMode::Off,
        },
        source,
        chef_dir,
        chefs: args.chefs.clone(),
        poke_interval: poke,
        output: if args.print {
            Output::Print
        } else {
            Output::Hub {
                endpoints: {
                    let token = nd_client::token_from(args.token_file.as_deref())
                        .context("cannot read the hub token")?;
                    args.hub
                        .iter()
                        .map(|hub| nd_client::HubEndpoint {
                            url: nd_client::hub_url(hub),
                            ca_file: args.ca_file.clone(),
                            token: token.clone(),
                        })
                        .collect()
                },
                buffer: args.buffer,
            }
        },
        limits,
        cache_dir,
        watch: !args.no_watch,
        metrics: args.metrics.clone(),
    };
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        on_signals(move || stop.store(true, Ordering::Relaxed));
    }
    let report = kitchen::run(config, stop.clone())?;
    tracing::info!(
        "{}: {} packets; {}",
        args.kitchen_name,
        report.packets,
        report
            .chefs
            .iter()
            .map(|c| format!(
                "{} {:?} ({} payloads, {} faults)",
                c.name, c.state, c.payloads, c.faults
            ))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if let Some(path) = &args.report {
        let json = serde_json::to_string_pretty(&report)?;
        std::fs::write(path, json)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    }
    if report.kernel_dropped + report.interface_dropped > 0 {
        tracing::warn!(
            "capture dropped {} packets (libpcap buffer) and {} (interface)",
            report.kernel_dropped,
            report.interface_dropped
        );
    }
    if let Some(r) = &report.relay {
        if r.dropped > 0 || report.dropped_before_relay > 0 {
            tracing::warn!(
                "dropped {} dumplings while nd-hub was away and {} the relay could not keep up with",
                r.dropped,
                report.dropped_before_relay
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs `f` on every SIGINT or SIGTERM (a tokio signal listener on a small thread).
fn on_signals(f: impl Fn() + Send + 'static) {
    std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        rt.block_on(async move {
            use tokio::signal::unix::{signal, SignalKind};
            let (Ok(mut int), Ok(mut term)) = (
                signal(SignalKind::interrupt()),
                signal(SignalKind::terminate()),
            ) else {
                return;
            };
            loop {
                tokio::select! {
                    _ = int.recv() => tracing::warn!("caught SIGINT; flushing and stopping"),
                    _ = term.recv() => tracing::warn!("caught SIGTERM; flushing and stopping"),
                }
                f();
            }
        });
    });
}

fn init_logging(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("ND_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour only for a person at a terminal, not in files or journald.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}
