//! The chef boundary: how much does running a chef as a sandboxed wasm
//! component cost, next to the same chef compiled natively?
//!
//! Every mode runs the real kitchen pipeline on one thread: libpcap reads the
//! mixed capture (repeated to about [`TARGET_PACKETS`]), the kitchen decodes
//! each packet into a batch (`nd_runtime::capture`), and the chef handles the
//! batch. Only the chef part differs:
//!
//! - *read + decode*: no chef (the floor);
//! - *native*: the standard PacketCountChef's Rust code compiled for this
//!   machine, driven by the same SDK glue the wasm build uses
//!   (`netdumplings_chef::Runner`); the host batch's columns are moved into
//!   the SDK's types first (no copy);
//! - *wasm*: `target/chefs/packet_count.wasm` in the kitchen's sandbox, one
//!   call per 256-packet batch (the kitchen's default);
//! - *wasm, 1 packet per call*: the same, with batches of one packet;
//! - *layer counter, by value / as resource*: two test chefs doing the same
//!   work (count every layer kind), one through the chef world (the batch
//!   copied into the guest), one through `bench/wit/batch-resource.wit`
//!   (the batch stays in the host; the chef calls `layers(i)` per packet).
//!
//! Each mode runs [`ROUNDS`] times, round-robin after a warm-up round; the
//! median is reported. The native and
//! wasm chefs' final `packet_counts` must be equal, or the run fails.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use nd_runtime::bindings::netdumplings::chef::types as host;
use nd_runtime::capture::{Capture, Source};
use nd_runtime::host::{ChefHost, Limits};
use netdumplings_chef::bindings::netdumplings::chef::types as guest;
use netdumplings_chef::Runner;
use packet_count::PacketCountChef;

/// The standard PacketCountChef's source, compiled for this machine.
#[path = "../../chefs/rust/packet-count/src/lib.rs"]
mod packet_count;

/// Packets per measured pass (the capture is replayed until it has these).
pub const TARGET_PACKETS: u64 = 1_000_000;
/// Measured passes per mode (after one warm-up pass).
const ROUNDS: usize = 5;

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Mode {
    ReadDecode,
    ReadDecodePerPacket,
    Native,
    Wasm,
    WasmPerPacket,
    LayersByValue,
    LayersByResource,
}

impl Mode {
    /// Every mode, in the order they run and are printed.
    const ALL: [Mode; 7] = [
        Mode::ReadDecode,
        Mode::ReadDecodePerPacket,
        Mode::Native,
        Mode::Wasm,
        Mode::WasmPerPacket,
        Mode::LayersByValue,
        Mode::LayersByResource,
    ];

    fn label(self) -> &'static str {
        match self {
            Mode::ReadDecode => "read + decode (batches of 256)",
            Mode::ReadDecodePerPacket => "read + decode (batches of 1)",
            Mode::Native => "+ native PacketCountChef",
            Mode::Wasm => "+ wasm PacketCountChef, batches of 256",
            Mode::WasmPerPacket => "+ wasm PacketCountChef, 1 packet per call",
            Mode::LayersByValue => "+ wasm layer counter, batch by value",
            Mode::LayersByResource => "+ wasm layer counter, batch as resource",
        }
    }

    fn batch_packets(self) -> usize {
        match self {
            Mode::ReadDecodePerPacket | Mode::WasmPerPacket => 1,
            _ => nd_runtime::batch::MAX_BATCH_PACKETS,
        }
    }
}

pub fn run() -> anyhow::Result<()> {
    let (pcap, per_file) = crate::kitchen::mixed_capture()?;
    let repeat = TARGET_PACKETS.div_ceil(per_file) as u32;
    let packets = per_file * repeat as u64;
    println!(
        "\n## Chef boundary: read + decode + PacketCountChef, one thread, {packets} packets ({} x {repeat})",
        pcap.file_name().unwrap_or_default().to_string_lossy()
    );
    let chef_host = ChefHost::new(Limits::default(), None)?;
    let component = chef_host.load(&crate::chef_wasm("packet_count.wasm"))?;
    let by_value = chef_host.load(&crate::test_chef_wasm("layers_value.wasm"))?;
    let by_resource_path = crate::test_chef_wasm("layers_resource.wasm");

    let mut finals = BTreeMap::new();
    let mut layer_counts = BTreeMap::new();
    let mut samples: BTreeMap<Mode, Vec<f64>> = BTreeMap::new();
    // Round-robin over the modes, so drift (CPU clock, page cache, the
    // other core's load) spreads over all of them; round 0 only warms up.
    for round in 0..=ROUNDS {
        for mode in Mode::ALL {
            let source = Source::File {
                path: pcap.clone(),
                filter: None,
                realtime: false,
                repeat,
            };
            let mut capture = Capture::open(source)?;
            capture.set_batch_packets(mode.batch_packets());
            let stop = AtomicBool::new(false);
            let native = Runner::<PacketCountChef>::default();
            let mut wasm = match mode {
                Mode::LayersByValue => chef_host.instantiate(&by_value, "layers_value")?,
                _ => chef_host.instantiate(&component, "packet_count")?,
            };
            let mut lent = match mode {
                Mode::LayersByResource => {
                    Some(crate::resource::ResourceChef::load(&by_resource_path)?)
                }
                _ => None,
            };
            let mut fault = None;
            let started = Instant::now();
            let stats = capture.run(&stop, nd_runtime::progress::ProgressMode::Off, |batch| {
                match mode {
                    Mode::ReadDecode | Mode::ReadDecodePerPacket => drop(batch),
                    Mode::Native => drop(native.handle_batch(to_guest(batch))),
                    Mode::Wasm | Mode::WasmPerPacket | Mode::LayersByValue => {
                        if let Err(e) = wasm.handle_batch(&std::sync::Arc::new(batch)) {
                            fault = Some(e.to_string());
                            return false;
                        }
                    }
                    Mode::LayersByResource => {
                        if let Some(Err(e)) = lent.as_mut().map(|c| c.handle_batch(batch)) {
                            fault = Some(format!("{e:#}"));
                            return false;
                        }
                    }
                }
                true
            })?;
            let secs = started.elapsed().as_secs_f64();
            if let Some(e) = fault {
                anyhow::bail!("the wasm chef faulted ({mode:?}): {e}");
            }
            anyhow::ensure!(stats.packets == packets, "read {} packets", stats.packets);
            if round > 0 {
                samples
                    .entry(mode)
                    .or_default()
                    .push(secs * 1e9 / packets as f64);
            }
            let last = match mode {
                Mode::Native => native.interval(),
                Mode::Wasm | Mode::WasmPerPacket => wasm.interval()?,
                _ => None,
            };
            if let Some(json) = last {
                finals.insert(mode, json);
            }
            let layers = match mode {
                Mode::LayersByValue => wasm.interval()?,
                Mode::LayersByResource => lent.as_mut().map(|c| c.counts()).transpose()?,
                _ => None,
            };
            if let Some(json) = layers {
                layer_counts.insert(mode, json);
            }
        }
    }
    let ns: BTreeMap<Mode, f64> = samples
        .into_iter()
        .map(|(mode, v)| (mode, crate::median(v)))
        .collect();
    // The three chef modes must agree on what they counted.
    let reference = &finals[&Mode::Native];
    for (mode, json) in &finals {
        anyhow::ensure!(
            json == reference,
            "{mode:?} counted differently from native:\n{json}\nvs\n{reference}"
        );
    }

    anyhow::ensure!(
        layer_counts[&Mode::LayersByValue] == layer_counts[&Mode::LayersByResource],
        "the layer counters disagree: {layer_counts:?}"
    );

    let base = ns[&Mode::ReadDecode];
    let base1 = ns[&Mode::ReadDecodePerPacket];
    println!(
        "{:<44} {:>10} {:>12} {:>10}",
        "pipeline", "ns/packet", "Mpackets/s", "chef ns"
    );
    for mode in Mode::ALL {
        // A chef's own cost: its pipeline minus the floor with the same batching.
        let floor = match mode {
            Mode::ReadDecode | Mode::ReadDecodePerPacket => None,
            Mode::WasmPerPacket => Some(base1),
            _ => Some(base),
        };
        let v = ns[&mode];
        println!(
            "{:<44} {:>10.1} {:>12.2} {:>10}",
            mode.label(),
            v,
            1e3 / v,
            floor.map_or("".into(), |f| format!("{:.1}", v - f))
        );
    }
    println!(
        "pipeline with wasm chef / with native chef: {:.2}x (target <= 1.5x)",
        ns[&Mode::Wasm] / ns[&Mode::Native]
    );
    println!(
        "wasm chef cost, 1 packet per call / batches of 256: {:.1}x",
        (ns[&Mode::WasmPerPacket] - base1) / (ns[&Mode::Wasm] - base)
    );
    println!(
        "layer counter cost, batch as resource / by value: {:.1}x",
        (ns[&Mode::LayersByResource] - base) / (ns[&Mode::LayersByValue] - base)
    );
    Ok(())
}

/// Moves a host batch into the SDK's (guest-side) types, as the native chef
/// needs them: the same columns, moved, not copied.
fn to_guest(b: host::PacketBatch) -> guest::PacketBatch {
    guest::PacketBatch {
        link_type: b.link_type,
        data: b.data,
        data_offsets: b.data_offsets,
        wire_lengths: b.wire_lengths,
        timestamps: b.timestamps,
        layer_starts: b.layer_starts,
        layer_kinds: b.layer_kinds,
        layer_offsets: b.layer_offsets,
        layer_lengths: b.layer_lengths,
        ip_versions: b.ip_versions,
        ip_addresses: b.ip_addresses,
        ports: b.ports,
        fragment_offsets: b.fragment_offsets,
    }
}
