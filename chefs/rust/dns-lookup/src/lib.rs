//! DNSLookupChef: one dumpling per DNS message with a question, as
//! netdumplings' DNSLookupChef, plus an interval summary.
//!
//! Packet payload: `{"lookup": {"hostname", "when"}}` where hostname is the
//! first question's name without the trailing dot. Interval payload:
//! `{"lookups_seen": {hostname: {"count", "latest"}}}`. Which packets are DNS
//! follows scapy 2.4.5 (see `nd_scapy::dns_message`); a message that does
//! not parse (truncated, bad labels, compression loops) makes no dumpling, as
//! scapy left it `Raw`.
//!
//! Deliberate difference: `when`/`latest` are the packet's capture time
//! (netdumplings used the wall clock), so replays are reproducible.

use std::collections::BTreeMap;

use netdumplings_chef::{
    export_chef, json, nd_scapy, serde_json, to_json, Chef, Interest, LayerKind, Packet, Value,
};
use serde::Serialize;

/// The packet payload, serialised straight from these fields (see
/// `Chef::packet_json`).
#[derive(Serialize)]
struct LookupPayload<'a> {
    lookup: Lookup<'a>,
}

#[derive(Serialize)]
struct Lookup<'a> {
    hostname: &'a str,
    when: f64,
}

#[derive(Default)]
pub struct DnsLookupChef {
    /// hostname -> (count, latest capture time).
    lookups_seen: BTreeMap<String, (u64, f64)>,
}

impl Chef for DnsLookupChef {
    const NAME: &'static str = "DNSLookupChef";
    // What `nd_scapy::dns_message` can accept: UDP 53/5353, TCP 53, and
    // the same quoted in an ICMP error (whose ports the kitchen reports
    // when the packet has no transport of its own).
    const INTEREST: Interest = Interest {
        any_layer: &[
            LayerKind::Udp,
            LayerKind::Tcp,
            LayerKind::QuotedUdp,
            LayerKind::QuotedTcp,
        ],
        any_port: &[53, 5353],
    };

    fn packet(&mut self, packet: &Packet<'_>) -> Option<Value> {
        serde_json::from_str(&self.packet_json(packet)?).ok()
    }

    fn packet_json(&mut self, packet: &Packet<'_>) -> Option<String> {
        let dns = nd_scapy::parse_dns(packet.dns_message()?)?;
        let hostname = dns.first_question?;
        let when = packet.timestamp();
        let json = to_json(&LookupPayload {
            lookup: Lookup {
                hostname: &hostname,
                when,
            },
        });
        match self.lookups_seen.get_mut(&hostname) {
            Some((count, latest)) => {
                *count += 1;
                *latest = when;
            }
            None => {
                self.lookups_seen.insert(hostname, (1, when));
            }
        }
        Some(json)
    }

    fn interval(&mut self) -> Option<Value> {
        let seen: BTreeMap<&String, Value> = self
            .lookups_seen
            .iter()
            .map(|(h, (count, latest))| (h, json!({ "count": count, "latest": latest })))
            .collect();
        Some(json!({ "lookups_seen": seen }))
    }

    fn export_state(&self) -> Option<Vec<u8>> {
        serde_json::to_vec(&self.lookups_seen).ok()
    }

    fn import_state(&mut self, state: &[u8]) -> Result<(), String> {
        self.lookups_seen = serde_json::from_slice(state).map_err(|e| e.to_string())?;
        Ok(())
    }
}

export_chef!(DnsLookupChef);
