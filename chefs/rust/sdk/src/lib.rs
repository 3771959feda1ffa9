//! Write a netdumplings chef in Rust.
//!
//! A chef is a type implementing [`Chef`], exported with [`export_chef!`]:
//!
//! ```ignore
//! use netdumplings_chef::{export_chef, json, Chef, Packet, Value};
//!
//! #[derive(Default)]
//! struct CountChef { packets: u64 }
//!
//! impl Chef for CountChef {
//!     const NAME: &'static str = "CountChef";
//!     fn packet(&mut self, _packet: &Packet<'_>) -> Option<Value> {
//!         self.packets += 1;
//!         None
//!     }
//!     fn interval(&mut self) -> Option<Value> {
//!         Some(json!({ "packets": self.packets }))
//!     }
//! }
//!
//! export_chef!(CountChef);
//! ```
//!
//! Build with `cargo build --target wasm32-wasip2 --release`; the `.wasm`
//! in `target/wasm32-wasip2/release/` is a component the kitchen loads.
//!
//! # Only the packets you want
//!
//! A chef that cares about a few packets in a thousand (ARP, DNS) sets
//! [`Chef::INTEREST`]; the kitchen then copies only matching packets into
//! it, and does not call it at all for a batch with none. Treat it as a
//! hint: `packet` must still check what it reads.
//!
//! ```ignore
//! const INTEREST: Interest = Interest { any_layer: &[LayerKind::Arp], any_port: &[] };
//! ```
//!
//! # What this crate hides
//!
//! The kitchen hands packets over in batches (see `wit/chef.wit`); the glue
//! here walks a batch and calls [`Chef::packet`] once per packet with a
//! [`Packet`] view, then collects the payloads. Payloads are
//! `serde_json::Value`s, serialised here.

use std::cell::RefCell;

mod scapy;
pub use nd_scapy;
pub use scapy::{scapy_name, scapy_name_count, ScapyName};

pub use serde;
pub use serde_json::{self, json, Value};

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../../wit",
        world: "selective-chef",
        pub_export_macro: true,
        default_bindings_module: "netdumplings_chef::bindings",
    });
}

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub use bindings::netdumplings::chef::types::{LayerKind, LogLevel};
use bindings::netdumplings::chef::types::{PacketBatch, PacketPayload};

/// `fragment-offsets` value for a packet that is not a fragment.
const NOT_A_FRAGMENT: u32 = u32::MAX;

/// Every `layer-kind`, in WIT order: `LAYER_KINDS[n]` is kind number `n`.
const LAYER_KINDS: [LayerKind; 28] = [
    LayerKind::Ethernet,
    LayerKind::Ieee8023,
    LayerKind::LinuxSll,
    LayerKind::Loopback,
    LayerKind::Vlan,
    LayerKind::Qinq,
    LayerKind::Arp,
    LayerKind::Ipv4,
    LayerKind::Ipv6,
    LayerKind::Ipv6Extension,
    LayerKind::Ipv6Fragment,
    LayerKind::Tcp,
    LayerKind::Udp,
    LayerKind::Icmpv4,
    LayerKind::Icmpv6,
    LayerKind::Payload,
    LayerKind::Padding,
    LayerKind::Vxlan,
    LayerKind::Gre,
    LayerKind::PppoeDiscovery,
    LayerKind::PppoeSession,
    LayerKind::Ppp,
    LayerKind::QuotedIpv4,
    LayerKind::QuotedIpv6,
    LayerKind::QuotedTcp,
    LayerKind::QuotedUdp,
    LayerKind::QuotedIcmpv4,
    LayerKind::QuotedIcmpv6,
];

/// Which packets a chef wants the kitchen to hand it (`interests` in
/// `wit/chef.wit`): those with a layer of one of `any_layer`'s kinds (empty:
/// any) and a TCP/UDP port in `any_port` (empty: any).
///
/// A hint for speed: a chef that wants one packet in a hundred is not
/// copied the other ninety-nine. [`Chef::packet`] must still check what it
/// needs; a kitchen may hand over more.
#[derive(Debug, Clone, Copy)]
pub struct Interest {
    /// Layer kinds, any of which qualifies a packet.
    pub any_layer: &'static [LayerKind],
    /// TCP/UDP ports (source or destination), any of which qualifies a packet.
    pub any_port: &'static [u16],
}

impl Interest {
    /// Every packet (the default).
    pub const EVERY_PACKET: Interest = Interest {
        any_layer: &[],
        any_port: &[],
    };
}

/// A chef: netdumplings' `DumplingChef`, in Rust.
pub trait Chef: Default + 'static {
    /// The chef's name in dumplings (`metadata.chef`).
    const NAME: &'static str;

    /// Which packets to hand to [`Chef::packet`] (see [`Interest`]).
    const INTEREST: Interest = Interest::EVERY_PACKET;

    /// Called for every packet. Return a payload to make a packet dumpling.
    fn packet(&mut self, packet: &Packet<'_>) -> Option<Value> {
        let _ = packet;
        None
    }

    /// [`Chef::packet`], serialised: what the kitchen receives. Override it
    /// instead of `packet` to serialise straight from your own
    /// `#[derive(Serialize)]` type (see [`to_json`]) and skip building a
    /// [`Value`] tree, whose map allocates every key: for ARPChef, which
    /// makes a payload per ARP packet, that was most of its time.
    fn packet_json(&mut self, packet: &Packet<'_>) -> Option<String> {
        self.packet(packet).as_ref().map(to_json)
    }

    /// Called every poke interval. Return a payload to make an interval dumpling.
    fn interval(&mut self) -> Option<Value> {
        None
    }

    /// State to hand to the next version of this chef on a hot swap.
    fn export_state(&self) -> Option<Vec<u8>> {
        None
    }

    /// State from the previous version of this chef.
    fn import_state(&mut self, state: &[u8]) -> Result<(), String> {
        let _ = state;
        Ok(())
    }
}

/// One captured packet, as the kitchen decoded it: a view into a batch.
pub struct Packet<'a> {
    batch: &'a PacketBatch,
    /// The packet's position in the batch.
    index: usize,
    /// Its captured bytes.
    data: &'a [u8],
    /// Its layers' range in the batch's layer columns.
    layers: std::ops::Range<usize>,
    /// Bit `k` set when the packet has a layer of kind number `k`: chefs ask
    /// "is there a UDP layer?" several times per packet, and most answers
    /// are no; this answers without walking the layers.
    kinds: u32,
    /// The batch's scapy names, fetched from the kitchen on first use.
    names: &'a scapy::BatchNames,
}

impl<'a> Packet<'a> {
    /// The captured bytes (may be shorter than the packet on the wire).
    #[inline]
    pub fn data(&self) -> &'a [u8] {
        self.data
    }

    /// Length of the packet on the wire.
    #[inline]
    pub fn wire_length(&self) -> u32 {
        self.batch
            .wire_lengths
            .get(self.index)
            .copied()
            .unwrap_or(0)
    }

    /// Capture time in seconds since the Unix epoch, as netdumplings' floats.
    #[inline]
    pub fn timestamp(&self) -> f64 {
        let (secs, nanos) = self.timestamp_parts();
        secs as f64 + nanos as f64 / 1e9
    }

    /// Capture time: whole seconds and nanoseconds.
    #[inline]
    pub fn timestamp_parts(&self) -> (u64, u32) {
        let t = self.batch.timestamps.get(self.index).copied().unwrap_or(0);
        (t / 1_000_000_000, (t % 1_000_000_000) as u32)
    }

    /// The capture's LINKTYPE number.
    #[inline]
    pub fn link_type(&self) -> u16 {
        self.batch.link_type
    }

    /// Decoded layers, outermost first: `(kind, bytes of the layer)`.
    /// A kind number this SDK does not know (a newer kitchen) is skipped.
    #[inline]
    pub fn layers(&self) -> impl Iterator<Item = (LayerKind, &'a [u8])> + '_ {
        let b = self.batch;
        self.layers.clone().filter_map(move |j| {
            let kind = *LAYER_KINDS.get(*b.layer_kinds.get(j)? as usize)?;
            let offset = *b.layer_offsets.get(j)?;
            let length = *b.layer_lengths.get(j)?;
            Some((kind, self.slice(offset, length)))
        })
    }

    /// The bytes of the first layer of `kind`, if present.
    #[inline]
    pub fn layer(&self, kind: LayerKind) -> Option<&'a [u8]> {
        if !self.has(kind) {
            return None;
        }
        self.layers()
            .find(|(k, _)| *k == kind)
            .map(|(_, bytes)| bytes)
    }

    /// Whether the packet has a layer of `kind`.
    #[inline]
    pub fn has(&self, kind: LayerKind) -> bool {
        self.kinds & (1 << kind as u32) != 0
    }

    /// Source IP address of the innermost IP header.
    #[inline]
    pub fn src_addr(&self) -> Option<IpAddr> {
        self.address(0)
    }

    /// Destination IP address of the innermost IP header.
    #[inline]
    pub fn dst_addr(&self) -> Option<IpAddr> {
        self.address(16)
    }

    #[inline]
    fn address(&self, at: usize) -> Option<IpAddr> {
        let start = self.index * 32 + at;
        let bytes = self.batch.ip_addresses.get(start..start + 16)?;
        match self.batch.ip_versions.get(self.index)? {
            4 => Some(IpAddr::V4(Ipv4Addr::new(
                bytes[0], bytes[1], bytes[2], bytes[3],
            ))),
            6 => Some(IpAddr::V6(Ipv6Addr::from(
                <[u8; 16]>::try_from(bytes).ok()?,
            ))),
            _ => None,
        }
    }

    /// TCP/UDP source port.
    #[inline]
    pub fn src_port(&self) -> Option<u16> {
        self.port(0)
    }

    /// TCP/UDP destination port.
    #[inline]
    pub fn dst_port(&self) -> Option<u16> {
        self.port(1)
    }

    #[inline]
    fn port(&self, which: usize) -> Option<u16> {
        if !(self.has(LayerKind::Tcp) || self.has(LayerKind::Udp)) {
            return None;
        }
        self.batch.ports.get(self.index * 2 + which).copied()
    }

    /// The IP fragment offset in bytes, if the packet is an IP fragment.
    #[inline]
    pub fn fragment_offset(&self) -> Option<u32> {
        self.batch
            .fragment_offsets
            .get(self.index)
            .copied()
            .filter(|o| *o != NOT_A_FRAGMENT)
    }

    #[inline]
    fn slice(&self, offset: u32, length: u32) -> &'a [u8] {
        let start = (offset as usize).min(self.data.len());
        let end = start.saturating_add(length as usize).min(self.data.len());
        &self.data[start..end]
    }
}

/// Serialises a payload as JSON text.
///
/// Straight into a byte buffer: `Value`'s `to_string()` goes through
/// `fmt::Display` and a `Formatter` per token, measured ~2x slower. A type
/// whose `Serialize` fails (a map with non-string keys) gives `null`.
pub fn to_json<T: serde::Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_string())
}

/// Writes a line to the kitchen's log, tagged with this chef's name.
pub fn log(level: LogLevel, message: &str) {
    bindings::netdumplings::chef::host::log(level, message);
}

/// Glue between the WIT exports and a [`Chef`]. Used by [`export_chef!`].
#[doc(hidden)]
pub struct Runner<C: Chef> {
    chef: RefCell<Option<C>>,
}

impl<C: Chef> Default for Runner<C> {
    fn default() -> Self {
        Runner {
            chef: RefCell::new(None),
        }
    }
}

impl<C: Chef> Runner<C> {
    fn with<R>(&self, f: impl FnOnce(&mut C) -> R) -> R {
        let mut slot = self.chef.borrow_mut();
        f(slot.get_or_insert_with(C::default))
    }

    pub fn handle_batch(&self, batch: PacketBatch) -> Vec<PacketPayload> {
        let mut out = Vec::new();
        // Out-of-range offsets (a buggy kitchen) give empty slices, not panics.
        let at = |v: &[u32], i: usize| v.get(i).copied().unwrap_or(0) as usize;
        let n = batch.data_offsets.len().saturating_sub(1);
        let names = scapy::BatchNames::default();
        self.with(|chef| {
            for index in 0..n {
                let start = at(&batch.data_offsets, index).min(batch.data.len());
                let end = at(&batch.data_offsets, index + 1).clamp(start, batch.data.len());
                let lstart = at(&batch.layer_starts, index);
                let lend = at(&batch.layer_starts, index + 1).max(lstart);
                // Only kinds this SDK knows (a newer kitchen may send more).
                let kinds = batch
                    .layer_kinds
                    .get(lstart..lend)
                    .unwrap_or_default()
                    .iter()
                    .filter(|k| (**k as usize) < LAYER_KINDS.len())
                    .fold(0u32, |m, k| m | 1 << k);
                let packet = Packet {
                    batch: &batch,
                    index,
                    data: &batch.data[start..end],
                    layers: lstart..lend,
                    kinds,
                    names: &names,
                };
                if let Some(json) = chef.packet_json(&packet) {
                    out.push(PacketPayload {
                        index: index as u32,
                        json,
                    });
                }
            }
        });
        out
    }

    pub fn interval(&self) -> Option<String> {
        self.with(|chef| chef.interval().as_ref().map(to_json))
    }

    pub fn export_state(&self) -> Option<Vec<u8>> {
        self.with(|chef| chef.export_state())
    }

    pub fn import_state(&self, state: Vec<u8>) -> Result<(), String> {
        self.with(|chef| chef.import_state(&state))
    }
}

/// Exports a [`Chef`] type as the component's `handlers` interface.
#[macro_export]
macro_rules! export_chef {
    ($chef:ty) => {
        thread_local! {
            static __ND_RUNNER: $crate::Runner<$chef> = $crate::Runner::default();
        }
        struct __NdExport;
        impl $crate::bindings::exports::netdumplings::chef::handlers::Guest for __NdExport {
            fn name() -> String {
                <$chef as $crate::Chef>::NAME.to_string()
            }
            fn handle_batch(
                batch: $crate::bindings::netdumplings::chef::types::PacketBatch,
            ) -> Vec<$crate::bindings::netdumplings::chef::types::PacketPayload> {
                __ND_RUNNER.with(|r| r.handle_batch(batch))
            }
            fn interval() -> Option<String> {
                __ND_RUNNER.with(|r| r.interval())
            }
            fn export_state() -> Option<Vec<u8>> {
                __ND_RUNNER.with(|r| r.export_state())
            }
            fn import_state(state: Vec<u8>) -> Result<(), String> {
                __ND_RUNNER.with(|r| r.import_state(state))
            }
        }
        impl $crate::bindings::exports::netdumplings::chef::interests::Guest for __NdExport {
            fn wants() -> $crate::bindings::exports::netdumplings::chef::interests::Interest {
                let i = <$chef as $crate::Chef>::INTEREST;
                $crate::bindings::exports::netdumplings::chef::interests::Interest {
                    any_layer: i.any_layer.to_vec(),
                    any_port: i.any_port.to_vec(),
                }
            }
        }
        $crate::bindings::export!(__NdExport with_types_in $crate::bindings);
    };
}
