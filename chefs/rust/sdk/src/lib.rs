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
//! # What this crate hides
//!
//! The kitchen hands packets over in batches (see `wit/chef.wit`); the glue
//! here walks a batch and calls [`Chef::packet`] once per packet with a
//! [`Packet`] view, then collects the payloads. Payloads are
//! `serde_json::Value`s, serialised here.

use std::cell::RefCell;

pub use serde_json::{self, json, Value};

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../../wit",
        world: "chef",
        pub_export_macro: true,
        default_bindings_module: "netdumplings_chef::bindings",
    });
}

pub use bindings::netdumplings::chef::types::{IpAddress, LayerKind, LogLevel};
use bindings::netdumplings::chef::types::{Layer, PacketBatch, PacketInfo, PacketPayload};

/// A chef: netdumplings' `DumplingChef`, in Rust.
pub trait Chef: Default + 'static {
    /// The chef's name in dumplings (`metadata.chef`).
    const NAME: &'static str;

    /// Called for every packet. Return a payload to make a packet dumpling.
    fn packet(&mut self, packet: &Packet<'_>) -> Option<Value> {
        let _ = packet;
        None
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

/// One captured packet, as the kitchen decoded it.
pub struct Packet<'a> {
    info: &'a PacketInfo,
    data: &'a [u8],
    layers: &'a [Layer],
}

impl<'a> Packet<'a> {
    /// The captured bytes (may be shorter than the packet on the wire).
    pub fn data(&self) -> &'a [u8] {
        self.data
    }

    /// Length of the packet on the wire.
    pub fn wire_length(&self) -> u32 {
        self.info.wire_length
    }

    /// Capture time in seconds since the Unix epoch, as netdumplings' floats.
    pub fn timestamp(&self) -> f64 {
        self.info.timestamp_secs as f64 + self.info.timestamp_nanos as f64 / 1e9
    }

    /// Capture time: whole seconds and nanoseconds.
    pub fn timestamp_parts(&self) -> (u64, u32) {
        (self.info.timestamp_secs, self.info.timestamp_nanos)
    }

    /// The capture's LINKTYPE number.
    pub fn link_type(&self) -> u16 {
        self.info.link_type
    }

    /// Decoded layers, outermost first: `(kind, bytes of the layer)`.
    pub fn layers(&self) -> impl Iterator<Item = (LayerKind, &'a [u8])> + '_ {
        self.layers
            .iter()
            .map(|l| (l.kind, self.slice(l.offset, l.length)))
    }

    /// The bytes of the first layer of `kind`, if present.
    pub fn layer(&self, kind: LayerKind) -> Option<&'a [u8]> {
        self.layers
            .iter()
            .find(|l| l.kind == kind)
            .map(|l| self.slice(l.offset, l.length))
    }

    /// Whether the packet has a layer of `kind`.
    pub fn has(&self, kind: LayerKind) -> bool {
        self.layers.iter().any(|l| l.kind == kind)
    }

    /// Source IP address of the innermost IP header.
    pub fn src_addr(&self) -> Option<IpAddress> {
        self.info.src_addr
    }

    /// Destination IP address of the innermost IP header.
    pub fn dst_addr(&self) -> Option<IpAddress> {
        self.info.dst_addr
    }

    /// TCP/UDP source port.
    pub fn src_port(&self) -> Option<u16> {
        self.info.src_port
    }

    /// TCP/UDP destination port.
    pub fn dst_port(&self) -> Option<u16> {
        self.info.dst_port
    }

    /// The IP fragment offset in bytes, if the packet is an IP fragment.
    pub fn fragment_offset(&self) -> Option<u32> {
        self.info.fragment_offset
    }

    fn slice(&self, offset: u32, length: u32) -> &'a [u8] {
        let start = (offset as usize).min(self.data.len());
        let end = start.saturating_add(length as usize).min(self.data.len());
        &self.data[start..end]
    }
}

/// Writes a line to the kitchen's log, tagged with this chef's name.
pub fn log(level: LogLevel, message: &str) {
    bindings::netdumplings::chef::host::log(level, message);
}

/// Formats an IP address the usual way (dotted quad / RFC 5952).
pub fn format_ip(addr: &IpAddress) -> String {
    match *addr {
        IpAddress::V4((a, b, c, d)) => std::net::Ipv4Addr::new(a, b, c, d).to_string(),
        IpAddress::V6((a, b, c, d, e, f, g, h)) => {
            std::net::Ipv6Addr::new(a, b, c, d, e, f, g, h).to_string()
        }
    }
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
        self.with(|chef| {
            for (index, info) in batch.packets.iter().enumerate() {
                let start = (info.data_offset as usize).min(batch.data.len());
                let end = start
                    .saturating_add(info.data_length as usize)
                    .min(batch.data.len());
                let lstart = (info.layers_start as usize).min(batch.layers.len());
                let lend = lstart
                    .saturating_add(info.layers_count as usize)
                    .min(batch.layers.len());
                let packet = Packet {
                    info,
                    data: &batch.data[start..end],
                    layers: &batch.layers[lstart..lend],
                };
                if let Some(value) = chef.packet(&packet) {
                    out.push(PacketPayload {
                        index: index as u32,
                        json: value.to_string(),
                    });
                }
            }
        });
        out
    }

    pub fn interval(&self) -> Option<String> {
        self.with(|chef| chef.interval().map(|v| v.to_string()))
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
        $crate::bindings::export!(__NdExport with_types_in $crate::bindings);
    };
}
