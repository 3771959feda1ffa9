//! The bus between hubs (`nd-hub --nats`): one kitchen sends
//! [`DUMPLINGS`] dumplings (the hub benchmark's, [`crate::hub`]) to hub A;
//! one eater receives them from
//!
//! 1. hub A alone, no bus (the embedded default, the reference);
//! 2. hub A on the bus (its own dumplings come back from the stream);
//! 3. hub B, the dumplings having gone kitchen -> A -> NATS JetStream -> B.
//!
//! Each case runs [`RUNS`] times, alternating, each with a fresh
//! `nats-server` (Debian's, JetStream on, file storage in a temporary
//! directory) so the stream starts empty; medians are reported, and the
//! ratios to case 1. The bus's share of the cost is 1 - (3) / (1).

use nd_testkit::nats::NatsServer;

use crate::hub::{fan_out, start_our_hub, Eaters, Outcome, DUMPLINGS};

/// Runs per case.
const RUNS: usize = 3;

pub fn run() -> anyhow::Result<()> {
    println!(
        "\n## Hubs on a bus: 1 kitchen -> hub A [-> NATS JetStream -> hub B] -> 1 eater, {DUMPLINGS} dumplings, loopback"
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let mut cases: [Vec<Outcome>; 3] = Default::default();
    for _ in 0..RUNS {
        cases[0].push({
            let (_a, inp, out) = start_our_hub(None);
            rt.block_on(fan_out(inp, out, 1, Eaters::All, 1))?
        });
        cases[1].push({
            let nats = NatsServer::start();
            let (_a, inp, out) = start_our_hub(Some((&nats.url(), "A")));
            rt.block_on(fan_out(inp, out, 1, Eaters::All, 1))?
        });
        cases[2].push({
            let nats = NatsServer::start();
            let (_a, inp, _) = start_our_hub(Some((&nats.url(), "A")));
            let (_b, _, out) = start_our_hub(Some((&nats.url(), "B")));
            rt.block_on(fan_out(inp, out, 1, Eaters::All, 1))?
        });
    }
    let rate = |v: &[Outcome]| crate::median(v.iter().map(Outcome::rate).collect());
    let lost = |v: &[Outcome]| DUMPLINGS * RUNS as u64 - v.iter().map(|o| o.delivered).sum::<u64>();
    let base = rate(&cases[0]);
    println!(
        "{:<44} {:>14} {:>8} {:>10}",
        "path", "dumplings/s", "lost", "vs alone"
    );
    for (label, v) in [
        "kitchen -> A -> eater (no bus)",
        "kitchen -> A -> stream -> A -> eater",
        "kitchen -> A -> stream -> B -> eater",
    ]
    .iter()
    .zip(&cases)
    {
        println!(
            "{label:<44} {:>14.0} {:>8} {:>9.2}x",
            rate(v),
            lost(v),
            rate(v) / base
        );
    }
    println!(
        "the bus's share of the cost (A -> B): {:.0}%",
        100.0 * (1.0 - rate(&cases[2]) / base)
    );
    Ok(())
}
