//! `nd-bench`: every benchmark of `just bench`, each run side by side with
//! its reference in the same process run, reported as ratios.
//!
//! # Layout
//!
//! - [`hub`]: hub fan-out, our `nd-hub` vs the Python netdumplings 0.5.1
//!   `nd-hub` (1 kitchen -> 1 and 10 eaters).
//! - [`chef`]: the kitchen pipeline (read + decode + PacketCountChef) with
//!   the chef as a wasm component vs compiled natively, and batched vs one
//!   call per packet; and the batch passed by value vs lent as a host
//!   resource ([`resource`], `bench/wit/batch-resource.wit`).
//! - [`swap`]: hot-swap latency, file renamed into place -> new version
//!   running, for a cached and a never-compiled chef.
//! - [`kitchen`]: `nd-sniff` end to end with the three standard chefs vs
//!   the Python netdumplings chefs (scapy) on the same capture.
//! - [`bus`]: hubs federated through NATS JetStream: kitchen -> hub A ->
//!   NATS -> hub B -> eater beside the single hub (`nd-hub --nats`).
//! - [`polyglot`]: PacketCountChef in every chef language (Rust, C, Zig,
//!   JavaScript, Python), packets/s and the ratio to Rust.
//!
//! Binaries come from the release build (`just bench` builds them); the
//! Python peer from `.peer/venv` (`just peer`). Nothing here is a test: the
//! figures go to BENCHMARKS.md by hand, with the machine they came from.

#![forbid(unsafe_code)]

mod bus;
mod chef;
mod hub;
mod kitchen;
mod polyglot;
mod resource;
mod swap;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "nd-bench",
    about = "netdumplings benchmarks, each beside its reference"
)]
struct Args {
    #[command(subcommand)]
    what: Option<What>,
}

#[derive(Subcommand, Clone, Copy, PartialEq, Eq)]
enum What {
    /// Every benchmark below, in order.
    All,
    /// Hub fan-out: ours vs the Python nd-hub.
    Hub,
    /// Chef boundary: wasm vs native, batched vs per packet.
    Chef,
    /// Hot-swap latency.
    Swap,
    /// nd-sniff end to end vs the Python chefs.
    Kitchen,
    /// PacketCountChef in every chef language.
    Polyglot,
    /// Hubs on a NATS JetStream bus vs one hub alone.
    Bus,
}

fn main() -> anyhow::Result<()> {
    let what = Args::parse().what.unwrap_or(What::All);
    let run = |w: What| what == What::All || what == w;
    println!("nd-bench on {} ({} cpus)", host_name(), num_cpus());
    if run(What::Hub) {
        hub::run()?;
    }
    if run(What::Chef) {
        chef::run()?;
    }
    if run(What::Swap) {
        swap::run()?;
    }
    if run(What::Kitchen) {
        kitchen::run()?;
    }
    if run(What::Polyglot) {
        polyglot::run()?;
    }
    if run(What::Bus) {
        bus::run()?;
    }
    Ok(())
}

/// The release build's binaries (`just bench` builds them first).
pub fn release_bin(name: &str) -> PathBuf {
    let p = nd_testkit::target_dir().join("release").join(name);
    assert!(
        p.exists(),
        "{} is missing: run `just bench` (it builds the release binaries)",
        p.display()
    );
    p
}

/// The standard chefs staged by `just chefs`.
pub fn chef_wasm(file: &str) -> PathBuf {
    nd_testkit::target_dir().join("chefs").join(file)
}

/// The test chefs staged by `just chefs`.
pub fn test_chef_wasm(file: &str) -> PathBuf {
    nd_testkit::target_dir().join("test-chefs").join(file)
}

/// Where benchmarks keep generated inputs.
pub fn work_dir() -> PathBuf {
    let d = nd_testkit::target_dir().join("bench");
    std::fs::create_dir_all(&d).expect("create target/bench");
    d
}

/// Median of a non-empty sample.
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "?".into())
}

fn num_cpus() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}
