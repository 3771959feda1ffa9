//! ChefTemplate: counts packets and bytes; reports them every interval.
//!
//! Start here: `packet` sees every packet (see `netdumplings_chef::Packet`)
//! and may return a payload (any JSON value) to make a packet dumpling;
//! `interval` runs every poke interval. A chef that only cares about some
//! packets says so with `const INTEREST` (e.g. `Interest { any_layer:
//! &[LayerKind::Arp], any_port: &[] }`) and the kitchen hands it only those.
//! Build with `just chefs`, try it with
//! `nd-sniff --read FILE --print --chef-dir target/polyglot/rust`.

use netdumplings_chef::{export_chef, json, Chef, Packet, Value};

#[derive(Default)]
pub struct ChefTemplate {
    packets: u64,
    bytes: u64,
}

impl Chef for ChefTemplate {
    const NAME: &'static str = "ChefTemplate";

    fn packet(&mut self, packet: &Packet<'_>) -> Option<Value> {
        self.packets += 1;
        self.bytes += u64::from(packet.wire_length());
        None
    }

    fn interval(&mut self) -> Option<Value> {
        Some(json!({ "packets": self.packets, "bytes": self.bytes }))
    }
}

export_chef!(ChefTemplate);
