//! Hub fan-out: one kitchen sends [`DUMPLINGS`] dumplings as fast as the
//! hub reads them; 1 or 10 eaters receive them (and, ours only, 10 eaters
//! each subscribed to one of 10 chefs, beside 10 taking everything); [`RUNS`] runs of each hub,
//! alternating, and the medians compared ("lost" sums over the runs). Measured from the first
//! dumpling sent to the last one received by the last eater; what an eater
//! has not received when the stream goes quiet counts as lost.
//!
//! The same clients drive both hubs, so their own cost is the same on both
//! sides of the ratio: eaters are tokio-tungstenite clients; the kitchen
//! connects and says hello with tokio-tungstenite, then writes frames
//! encoded before the clock (the load generator runs on the two cores the
//! hub needs: the less it spends, the more the measure is the hub's).
//! Both hubs run as subprocesses on loopback with their status dumplings
//! effectively off (`-f 3600`); eaters skip status dumplings anyway.
//!
//! Our hub runs with `--eater-queue` raised to the run's size: the default
//! (10,000) bounds memory against a *stalled* eater, and a 100k burst into
//! 10 eaters on 2 cores would otherwise drop the oldest dumplings by design,
//! which is not what this benchmark measures. BENCHMARKS.md says so. For the
//! same reason its per-kitchen rate limit is off (`--kitchen-rate 0`): the
//! benchmark's one kitchen sends faster than the default limit by design.

use std::net::SocketAddr;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{FutureExt, SinkExt, StreamExt};
use nd_testkit::{free_port, wait_for_port, Child};
use tokio::io::AsyncWriteExt;
use tokio_tungstenite::tungstenite::Message;

/// Dumplings per run.
pub const DUMPLINGS: u64 = 100_000;
/// Runs per hub and eater count (alternating ours and Python's); the
/// median is reported (five: a 100k run of our hub lasts ~80 ms, so one
/// slow spell of the shared VM moves a run by tens of percent).
const RUNS: usize = 5;
/// Eater counts measured.
const EATERS: [usize; 2] = [1, 10];
/// How long an eater may go without a dumpling before the run ends.
const QUIET: Duration = Duration::from_secs(30);

/// The WebSocket frames of `n` dumplings as a kitchen sends them (text,
/// final, masked as a client must), in chunks of [`FRAMES_PER_WRITE`]: what
/// tokio-tungstenite would write with a flush every 256 messages, made ahead
/// of time so that sending costs the load generator one `write` per chunk.
/// Masking keys come from a counter: any key is valid, and the hub must
/// unmask every frame either way.
fn frames(n: u64, chefs: u64) -> Vec<Vec<u8>> {
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
    use tokio_tungstenite::tungstenite::protocol::frame::Frame;
    let mut chunks = Vec::new();
    let mut chunk = Vec::new();
    for i in 0..n {
        let mut frame = Frame::message(dumpling(i, chefs), OpCode::Data(Data::Text), true);
        frame.header_mut().mask = Some((i as u32).wrapping_mul(0x9E37_79B9).to_le_bytes());
        // Writing into a Vec cannot fail.
        let _ = frame.format(&mut chunk);
        if (i + 1) % FRAMES_PER_WRITE == 0 {
            chunks.push(std::mem::take(&mut chunk));
        }
    }
    if !chunk.is_empty() {
        chunks.push(chunk);
    }
    chunks
}

/// Frames per kitchen write (a chunk of [`frames`]).
const FRAMES_PER_WRITE: u64 = 256;

/// A realistic dumpling: a DNSLookupChef packet dumpling.
/// Dumpling `i` of a run whose dumplings come from `chefs` chefs in turn
/// (`DNSLookupChef` when 1, else `Chef0`, `Chef1`, ...).
fn dumpling(i: u64, chefs: u64) -> String {
    let chef = if chefs == 1 {
        "DNSLookupChef".to_string()
    } else {
        format!("Chef{}", i % chefs)
    };
    format!(
        r#"{{"metadata": {{"chef": "{chef}", "kitchen": "bench_kitchen", "creation_time": 1764000000.{i:06}, "driver": "packet"}}, "payload": {{"lookup": {{"hostname": "host-{i}.example.com", "when": 1764000000.{i:06}}}}}}}"#
    )
}

/// The subscriptions measured: 10 eaters and 10 chefs, every eater taking
/// everything, or each one chef.
const SUBSCRIBED_EATERS: usize = 10;

/// How the eaters of a run subscribe.
#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Eaters {
    /// Each takes every dumpling.
    All,
    /// Eater `i` takes only `Chef{i}` (the run has as many chefs as eaters).
    OneChefEach,
}

/// One run's outcome.
pub(crate) struct Outcome {
    /// Seconds from first send to last receipt.
    pub(crate) secs: f64,
    /// Dumplings received, summed over eaters.
    pub(crate) delivered: u64,
}

impl Outcome {
    pub(crate) fn rate(&self) -> f64 {
        self.delivered as f64 / self.secs
    }
}

pub fn run() -> anyhow::Result<()> {
    println!("\n## Hub fan-out: 1 kitchen -> N eaters, {DUMPLINGS} dumplings, loopback");
    println!(
        "{:<8} {:>22} {:>22} {:>8}",
        "eaters", "ours (delivered/s)", "python (delivered/s)", "ratio"
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    run_python_comparison(&rt)?;
    run_subscriptions(&rt)
}

/// Our release hub on free ports, set up for a run (see the module docs:
/// queue raised to the run's size, no rate limit), on the bus at `nats`
/// (URL, hub name) if given and once it reads it, once its out port
/// accepts: (the process, in port, out port).
pub(crate) fn start_our_hub(nats: Option<(&str, &str)>) -> (Child, u16, u16) {
    let (inp, out) = (free_port(), free_port());
    let mut cmd = Command::new(crate::release_bin("nd-hub"));
    cmd.args(["-a", "127.0.0.1", "-f", "3600"])
        .args(["-i", &inp.to_string(), "-o", &out.to_string()])
        .args(["--eater-queue", &DUMPLINGS.to_string()])
        .args(["--kitchen-rate", "0"])
        .env("ND_LOG", "warn");
    if let Some((url, name)) = nats {
        cmd.args(["--nats", url, "--hub-name", name])
            .args(["--nats-buffer", &DUMPLINGS.to_string()])
            // For the "reading the bus" line waited for below.
            .env("ND_LOG", "warn,nd_hub::bus::consume=info");
    }
    let hub = Child::spawn("nd-hub", cmd);
    if nats.is_some() {
        hub.wait_for_line(Duration::from_secs(30), |l| l.contains("reading the bus"));
    }
    wait_for_port(out, Duration::from_secs(10));
    (hub, inp, out)
}

/// Our hub and netdumplings' side by side, 1 and 10 eaters taking everything.
fn run_python_comparison(rt: &tokio::runtime::Runtime) -> anyhow::Result<()> {
    for eaters in EATERS {
        // Alternating, so a slow spell of the machine (it is a shared VM)
        // hits both hubs; the median of the runs is what is reported.
        let mut ours = Vec::new();
        let mut python = Vec::new();
        for _ in 0..RUNS {
            ours.push({
                let (_hub, inp, out) = start_our_hub(None);
                rt.block_on(fan_out(inp, out, eaters, Eaters::All, 1))?
            });
            python.push({
                let (inp, out) = (free_port(), free_port());
                let mut cmd = Command::new(nd_testkit::peer_venv().join("bin").join("nd-hub"));
                cmd.args(["--address", "127.0.0.1", "--status-freq", "3600"])
                    .args([
                        "--in-port",
                        &inp.to_string(),
                        "--out-port",
                        &out.to_string(),
                    ]);
                let _hub = Child::spawn("python nd-hub", cmd);
                wait_for_port(out, Duration::from_secs(20));
                rt.block_on(fan_out(inp, out, eaters, Eaters::All, 1))?
            });
        }
        let expected = DUMPLINGS * eaters as u64 * RUNS as u64;
        let lost = |v: &[Outcome]| expected - v.iter().map(|o| o.delivered).sum::<u64>();
        let rate = |v: &[Outcome]| crate::median(v.iter().map(Outcome::rate).collect());
        let spread = |v: &[Outcome]| {
            let r: Vec<f64> = v.iter().map(Outcome::rate).collect();
            let (lo, hi) = (
                r.iter().copied().fold(f64::MAX, f64::min),
                r.iter().copied().fold(0.0, f64::max),
            );
            format!("{:.0}k-{:.0}k", lo / 1e3, hi / 1e3)
        };
        println!(
            "{:<8} {:>14.0} ({:>5} lost) {:>14.0} ({:>5} lost) {:>7.1}x   runs: ours {}, python {}",
            eaters,
            rate(&ours),
            lost(&ours),
            rate(&python),
            lost(&python),
            rate(&ours) / rate(&python),
            spread(&ours),
            spread(&python),
        );
    }
    Ok(())
}

/// Our hub only (netdumplings has no subscriptions): 10 chefs in turn, 10
/// eaters taking everything beside 10 eaters taking one chef each. The
/// figure is the kitchen's dumplings per second through the hub (what it
/// can absorb), so the two are comparable though the second delivers a
/// tenth as much.
fn run_subscriptions(rt: &tokio::runtime::Runtime) -> anyhow::Result<()> {
    println!(
        "\n## Hub fan-out with subscriptions: 1 kitchen, {SUBSCRIBED_EATERS} chefs in turn, {SUBSCRIBED_EATERS} eaters, ours"
    );
    println!(
        "{:<28} {:>26} {:>10}",
        "eaters", "kitchen dumplings/s (median)", "lost"
    );
    let mut rates = Vec::new();
    for mode in [Eaters::All, Eaters::OneChefEach] {
        let mut runs = Vec::new();
        for _ in 0..RUNS {
            let (_hub, inp, out) = start_our_hub(None);
            let chefs = SUBSCRIBED_EATERS as u64;
            runs.push(rt.block_on(fan_out(inp, out, SUBSCRIBED_EATERS, mode, chefs))?);
        }
        let expected = match mode {
            Eaters::All => DUMPLINGS * SUBSCRIBED_EATERS as u64,
            Eaters::OneChefEach => DUMPLINGS,
        } * RUNS as u64;
        let lost = expected - runs.iter().map(|o| o.delivered).sum::<u64>();
        let rate = crate::median(runs.iter().map(|o| DUMPLINGS as f64 / o.secs).collect());
        let label = match mode {
            Eaters::All => "10, each taking everything",
            Eaters::OneChefEach => "10, each subscribed to 1 chef",
        };
        println!("{label:<28} {rate:>26.0} {lost:>10}");
        rates.push(rate);
    }
    println!("subscribed / everything: {:.2}x", rates[1] / rates[0]);
    Ok(())
}

/// One run: a kitchen on `in_port`, `eaters` eaters on `out_port` (the
/// same hub's, or another hub's on the bus: `bus`).
pub(crate) async fn fan_out(
    in_port: u16,
    out_port: u16,
    eaters: usize,
    mode: Eaters,
    chefs: u64,
) -> anyhow::Result<Outcome> {
    // Dumplings each eater should get.
    let wanted = match mode {
        Eaters::All => DUMPLINGS,
        Eaters::OneChefEach => DUMPLINGS / chefs,
    };
    let out: SocketAddr = ([127, 0, 0, 1], out_port).into();
    let received = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    let mut connected = Vec::new();
    for i in 0..eaters {
        let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{out}")).await?;
        let hello = match mode {
            Eaters::All => format!(r#"{{"eater_name": "bench_eater_{i}"}}"#),
            Eaters::OneChefEach => {
                format!(r#"{{"eater_name": "bench_eater_{i}", "chefs": ["Chef{i}"]}}"#)
            }
        };
        ws.send(Message::text(hello)).await?;
        connected.push(ws);
    }
    // The kitchen connects and says hello before the clock starts too: the
    // measure is from the first dumpling sent.
    let (mut kitchen_ws, _) =
        tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{in_port}")).await?;
    kitchen_ws
        .send(Message::text(
            r#"{"kitchen_name": "bench_kitchen", "interface": "all", "filter": "tcp", "chefs": ["DNSLookupChef"], "poke_interval": 5}"#,
        ))
        .await?;
    // Both hubs register a peer when its hello is read; give them a moment.
    tokio::time::sleep(Duration::from_millis(500)).await;
    // The kitchen's side of the run, encoded before the clock starts: the
    // load generator shares the hub's two cores, and encoding is its work,
    // not the hub's. Then the kitchen only writes bytes (see `frames`).
    let chunks = frames(DUMPLINGS, chefs);
    let mut kitchen = kitchen_ws.into_inner();
    let start = Instant::now();
    for mut ws in connected {
        let received = received.clone();
        tasks.push(tokio::spawn(async move {
            let mut mine = 0u64;
            // Every dumpling taken so far arrived before `last`. The clock is
            // read (and a timeout armed) only when no message is ready, not
            // per message: the load generator shares the hub's two cores,
            // and a clock read per message was ~4% of all their time.
            let mut last = Instant::now();
            // Whether a dumpling came since `last` was read.
            let mut fresh = false;
            while mine < wanted {
                let msg = match ws.next().now_or_never() {
                    Some(msg) => msg,
                    None => {
                        if fresh {
                            last = Instant::now();
                            fresh = false;
                        }
                        // Quiet is "no dumpling for QUIET": the Python hub's
                        // keepalive pings (every 20 s) must not keep a run
                        // alive.
                        let quiet_at = tokio::time::Instant::from_std(last + QUIET);
                        match tokio::time::timeout_at(quiet_at, ws.next()).await {
                            Ok(msg) => msg,
                            Err(_) => break,
                        }
                    }
                };
                match msg {
                    Some(Ok(Message::Text(t))) => {
                        // Skip status dumplings without parsing every message.
                        if !t.as_str().contains("SystemStatusChef") {
                            mine += 1;
                            fresh = true;
                        }
                    }
                    Some(Ok(_)) => {}
                    _ => break,
                }
            }
            if mine == wanted {
                last = Instant::now();
            }
            received.fetch_add(mine, Ordering::Relaxed);
            last
        }));
    }
    let kitchen = tokio::spawn(async move {
        for chunk in &chunks {
            kitchen.write_all(chunk).await?;
        }
        anyhow::Ok(kitchen)
    });
    let mut last = start;
    for t in tasks {
        last = last.max(t.await?);
    }
    // Keep the kitchen's socket open until every eater is done.
    let _ws = kitchen.await??;
    Ok(Outcome {
        secs: last.duration_since(start).as_secs_f64(),
        delivered: received.load(Ordering::Relaxed),
    })
}
