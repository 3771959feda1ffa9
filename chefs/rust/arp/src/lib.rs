//! ARPChef: one dumpling per ARP packet, as netdumplings' ARPChef.
//!
//! Payload: `{operation, src_hw, src_ip, dst_hw, dst_ip, time, notes}`.
//! `operation` is "request"/"reply" or the numeric opcode; `notes` is set on
//! replies only: "source device is new" the first time an IP is seen in a
//! reply, "source device has new IP address" when a later reply maps it to a
//! different MAC. Deliberate differences from netdumplings: `time` is the
//! packet's capture time (scapy gave the wall clock), and addresses of
//! unusual lengths are hex strings (netdumplings' kitchen crashed on them).

use std::collections::HashMap;

use netdumplings_chef::{
    export_chef, serde_json, to_json, Chef, Interest, LayerKind, Packet, Value,
};
use serde::Serialize;

#[derive(Default)]
pub struct ArpChef {
    /// IP -> MAC, learned from replies.
    ip_mac: HashMap<String, String>,
}

/// Hardware addresses as scapy prints them: lowercase hex, colon-separated.
/// (Written digit by digit: `format!` per byte was most of this chef's time.)
fn hw(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            s.push(':');
        }
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 0xf) as usize] as char);
    }
    s
}

/// Protocol addresses: dotted quad for 4 bytes, else hex like hardware ones.
fn proto(bytes: &[u8]) -> String {
    match bytes {
        [_, _, _, _] => {
            let mut s = String::with_capacity(15);
            for (i, b) in bytes.iter().enumerate() {
                if i > 0 {
                    s.push('.');
                }
                if *b >= 100 {
                    s.push((b'0' + b / 100) as char);
                }
                if *b >= 10 {
                    s.push((b'0' + b / 10 % 10) as char);
                }
                s.push((b'0' + b % 10) as char);
            }
            s
        }
        other => hw(other),
    }
}

/// The fields of an ARP packet. Like scapy, a packet cut short yields
/// shorter (possibly empty) address fields rather than nothing.
pub struct Arp<'a> {
    pub op: u16,
    pub sha: &'a [u8],
    pub spa: &'a [u8],
    pub tha: &'a [u8],
    pub tpa: &'a [u8],
}

/// Parses the fixed header (8 bytes) and whatever of the addresses is there.
pub fn parse_arp(b: &[u8]) -> Option<Arp<'_>> {
    let hlen = *b.get(4)? as usize;
    let plen = *b.get(5)? as usize;
    let op = u16::from_be_bytes([*b.get(6)?, *b.get(7)?]);
    let mut at = 8usize;
    let mut take = |n: usize| {
        let start = at.min(b.len());
        let end = at.saturating_add(n).min(b.len());
        at = at.saturating_add(n);
        &b[start..end]
    };
    Some(Arp {
        op,
        sha: take(hlen),
        spa: take(plen),
        tha: take(hlen),
        tpa: take(plen),
    })
}

/// The payload. Serialised straight from these fields (not through a
/// `Value` map): this chef makes a payload for every ARP packet, and
/// building a `json!` tree per packet was most of its time (see
/// `Chef::packet_json`). Fields in alphabetical order, the order a
/// `serde_json::Value` map writes them in, so the payload stays byte for
/// byte what every other language's ARPChef writes
/// (`runtime/tests/polyglot.rs`).
#[derive(Serialize)]
struct ArpPayload<'a> {
    dst_hw: String,
    dst_ip: String,
    /// `null` unless the packet is a reply that taught us something.
    notes: Option<&'static str>,
    operation: Operation,
    src_hw: &'a str,
    src_ip: &'a str,
    time: f64,
}

/// "request", "reply", or the opcode's number for any other operation.
#[derive(Serialize)]
#[serde(untagged)]
enum Operation {
    Name(&'static str),
    Code(u16),
}

impl ArpChef {
    /// The payload for one packet, if it is ARP.
    fn payload(&mut self, packet: &Packet<'_>) -> Option<String> {
        let arp = parse_arp(packet.layer(LayerKind::Arp)?)?;
        let operation = match arp.op {
            1 => Operation::Name("request"),
            2 => Operation::Name("reply"),
            n => Operation::Code(n),
        };
        let src_ip = proto(arp.spa);
        let src_hw = hw(arp.sha);
        let mut notes = None;
        if arp.op == 2 {
            match self.ip_mac.get(&src_ip) {
                None => notes = Some("source device is new"),
                Some(mac) if *mac != src_hw => notes = Some("source device has new IP address"),
                Some(_) => {}
            }
        }
        let json = to_json(&ArpPayload {
            dst_hw: hw(arp.tha),
            dst_ip: proto(arp.tpa),
            notes,
            operation,
            src_hw: &src_hw,
            src_ip: &src_ip,
            time: packet.timestamp(),
        });
        if arp.op == 2 {
            self.ip_mac.insert(src_ip, src_hw);
        }
        Some(json)
    }
}

impl Chef for ArpChef {
    const NAME: &'static str = "ARPChef";
    const INTEREST: Interest = Interest {
        any_layer: &[LayerKind::Arp],
        any_port: &[],
    };

    fn packet(&mut self, packet: &Packet<'_>) -> Option<Value> {
        serde_json::from_str(&self.payload(packet)?).ok()
    }

    fn packet_json(&mut self, packet: &Packet<'_>) -> Option<String> {
        self.payload(packet)
    }

    fn export_state(&self) -> Option<Vec<u8>> {
        serde_json::to_vec(&self.ip_mac).ok()
    }

    fn import_state(&mut self, state: &[u8]) -> Result<(), String> {
        self.ip_mac = serde_json::from_slice(state).map_err(|e| e.to_string())?;
        Ok(())
    }
}

export_chef!(ArpChef);
