//! Building the batches that cross into chefs.
//!
//! A batch is a set of columns of plain numbers and bytes (see
//! `wit/chef.wit`): each crosses into a chef as one memory copy. It is
//! flushed when it holds [`MAX_BATCH_PACKETS`] packets or [`MAX_BATCH_BYTES`]
//! bytes, or (live capture) when its oldest packet is [`MAX_BATCH_AGE`] old,
//! so batching bounds latency to about a millisecond.

use std::time::{Duration, Instant};

use std::net::IpAddr;

use crate::bindings::netdumplings::chef::types::{LayerKind, PacketBatch};
use crate::decode::{decode, Layer, LinkType};

/// `fragment-offsets` value for a packet that is not a fragment.
pub const NOT_A_FRAGMENT: u32 = u32::MAX;

/// Packets per batch. The spike measured 256-packet batches at ~4x the
/// per-packet call rate; larger batches gain little.
pub const MAX_BATCH_PACKETS: usize = 256;
/// Bytes per batch (keeps guest memory use for one batch small).
pub const MAX_BATCH_BYTES: usize = 1 << 20;
/// Longest a packet waits in an unfinished batch during live capture.
pub const MAX_BATCH_AGE: Duration = Duration::from_millis(1);

/// One captured packet, as libpcap hands it over.
#[derive(Debug, Clone, Copy)]
pub struct RawPacket<'a> {
    /// Capture time, seconds since the epoch.
    pub ts_secs: u64,
    /// Capture time, nanoseconds within the second.
    pub ts_nanos: u32,
    /// Length on the wire.
    pub wire_len: u32,
    /// Captured bytes.
    pub data: &'a [u8],
}

/// Accumulates decoded packets into a [`PacketBatch`].
pub struct BatchBuilder {
    batch: PacketBatch,
    /// The decoder's output for the packet being added (reused).
    layers: Vec<Layer>,
    /// Flush threshold in packets ([`MAX_BATCH_PACKETS`] unless a benchmark
    /// asks for smaller batches to measure the per-call cost).
    max_packets: usize,
    /// How to decode packets of this capture's link type.
    link: LinkType,
    /// When the first packet of the current batch arrived.
    started: Option<Instant>,
}

impl BatchBuilder {
    /// A builder for packets captured on `link_type` (a LINKTYPE number).
    pub fn new(link_type: u16) -> Self {
        Self::with_max_packets(link_type, MAX_BATCH_PACKETS)
    }

    /// A builder that flushes every `max_packets` packets (at least 1).
    pub fn with_max_packets(link_type: u16, max_packets: usize) -> Self {
        let max_packets = max_packets.clamp(1, MAX_BATCH_PACKETS);
        BatchBuilder {
            batch: empty_batch(link_type, max_packets),
            layers: Vec::with_capacity(16),
            max_packets,
            link: LinkType::from_linktype(link_type),
            started: None,
        }
    }

    /// Decodes and appends one packet.
    pub fn push(&mut self, p: RawPacket<'_>) {
        if self.started.is_none() {
            self.started = Some(Instant::now());
        }
        let b = &mut self.batch;
        b.data.extend_from_slice(p.data);
        // Offsets are u32: a batch is flushed at MAX_BATCH_BYTES, far below.
        b.data_offsets.push(b.data.len() as u32);
        b.wire_lengths.push(p.wire_len.max(p.data.len() as u32));
        b.timestamps.push(
            p.ts_secs
                .saturating_mul(1_000_000_000)
                .saturating_add(p.ts_nanos.min(999_999_999) as u64),
        );
        self.layers.clear();
        let s = decode(self.link, p.data, &mut self.layers);
        // Column by column: `extend` from an exact-size iterator reserves
        // once and writes without a capacity check per element.
        b.layer_kinds
            .extend(self.layers.iter().map(|l| l.kind as u8));
        b.layer_offsets.extend(self.layers.iter().map(|l| l.offset));
        b.layer_lengths.extend(self.layers.iter().map(|l| l.length));
        b.layer_starts.push(b.layer_kinds.len() as u32);
        // 16 bytes per address; IPv4 in the first 4 (see wit/chef.wit).
        let mut put = |a: IpAddr| match a {
            IpAddr::V4(a) => {
                b.ip_addresses.extend_from_slice(&a.octets());
                b.ip_addresses.extend_from_slice(&[0; 12]);
            }
            IpAddr::V6(a) => b.ip_addresses.extend_from_slice(&a.octets()),
        };
        match (s.src_addr, s.dst_addr) {
            (Some(src), Some(dst)) if src.is_ipv4() == dst.is_ipv4() => {
                put(src);
                put(dst);
                b.ip_versions.push(if src.is_ipv4() { 4 } else { 6 });
            }
            _ => {
                b.ip_addresses.extend_from_slice(&[0; 32]);
                b.ip_versions.push(0);
            }
        }
        b.ports
            .extend_from_slice(&[s.src_port.unwrap_or(0), s.dst_port.unwrap_or(0)]);
        b.fragment_offsets
            .push(s.fragment_offset.unwrap_or(NOT_A_FRAGMENT));
    }

    /// The link type of the packets in the current batch.
    pub fn link_type(&self) -> u16 {
        self.batch.link_type
    }

    /// Decodes the next packets as `link_type` (a pcapng file's packets
    /// come from interfaces of different link types). A batch has one
    /// link type: call this on an empty builder (after [`Self::take`]).
    pub fn set_link_type(&mut self, link_type: u16) {
        debug_assert!(self.is_empty(), "a batch has one link type");
        self.batch.link_type = link_type;
        self.link = LinkType::from_linktype(link_type);
    }

    /// Whether the batch should be flushed now because of its size.
    pub fn is_full(&self) -> bool {
        self.len() >= self.max_packets || self.batch.data.len() >= MAX_BATCH_BYTES
    }

    /// How long the oldest packet of the current batch has waited.
    pub fn age(&self) -> Option<Duration> {
        self.started.map(|t| t.elapsed())
    }

    /// Whether the oldest packet has waited [`MAX_BATCH_AGE`].
    pub fn is_stale(&self) -> bool {
        self.started.is_some_and(|t| t.elapsed() >= MAX_BATCH_AGE)
    }

    /// Packets in the current batch.
    pub fn len(&self) -> usize {
        batch_len(&self.batch)
    }

    /// Whether the current batch is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Takes the current batch (if it has packets) and starts a new one.
    pub fn take(&mut self) -> Option<PacketBatch> {
        if self.is_empty() {
            return None;
        }
        self.started = None;
        let next = empty_batch(self.batch.link_type, self.max_packets);
        Some(std::mem::replace(&mut self.batch, next))
    }
}

/// Which packets a chef wants: the WIT `interests.interest` record, as the
/// kitchen tests it (see `wit/chef.wit`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Interest {
    /// Bit `k` set: a layer of kind number `k` qualifies. 0: any packet.
    pub any_layer: u64,
    /// TCP/UDP ports that qualify (either side). Empty: any packet.
    pub any_port: Vec<u16>,
}

impl Interest {
    /// From the WIT record's lists.
    pub fn new(any_layer: &[LayerKind], any_port: &[u16]) -> Interest {
        Interest {
            any_layer: any_layer.iter().fold(0, |m, k| m | 1 << (*k as u8)),
            any_port: any_port.to_vec(),
        }
    }

    /// Whether every packet matches (nothing to filter).
    pub fn is_everything(&self) -> bool {
        self.any_layer == 0 && self.any_port.is_empty()
    }

    /// Whether packet `i` of `b` matches. Out-of-range columns (which
    /// [`BatchBuilder`] never makes) read as "no layers, no ports".
    pub fn matches(&self, b: &PacketBatch, i: usize) -> bool {
        // Ports first: one or two comparisons turn most packets away
        // before their layers are looked at (this runs for every packet).
        if !self.any_port.is_empty()
            && ![2 * i, 2 * i + 1]
                .iter()
                .filter_map(|j| b.ports.get(*j))
                .any(|p| self.any_port.contains(p))
        {
            return false;
        }
        let at = |v: &[u32], i: usize| v.get(i).copied().unwrap_or(0) as usize;
        let (start, end) = (at(&b.layer_starts, i), at(&b.layer_starts, i + 1));
        let kinds = b
            .layer_kinds
            .get(start..end)
            .unwrap_or_default()
            .iter()
            .fold(0u64, |m, k| m | 1u64.checked_shl(*k as u32).unwrap_or(0));
        // The ports column is the innermost TCP/UDP header's, or for an
        // ICMP error without one the quoted header's.
        let transport = [
            LayerKind::Tcp,
            LayerKind::Udp,
            LayerKind::QuotedTcp,
            LayerKind::QuotedUdp,
        ]
        .iter()
        .fold(0u64, |m, k| m | 1 << *k as u8);
        (self.any_layer == 0 || kinds & self.any_layer != 0)
            && (self.any_port.is_empty() || kinds & transport != 0)
    }

    /// Whether any packet of `b` can match: some layer of a wanted kind and
    /// some wanted port anywhere in the batch. A necessary condition for
    /// [`Interest::matches`], tested with one pass over two columns, so a
    /// batch with nothing for the chef (most batches, for ARP or DNS chefs)
    /// costs a scan of a few hundred bytes instead of a call per packet.
    fn may_match(&self, b: &PacketBatch) -> bool {
        let wanted_kind = |k: &u8| {
            1u64.checked_shl(u32::from(*k))
                .is_some_and(|bit| self.any_layer & bit != 0)
        };
        // Chunks compared without an early exit inside each: the compiler
        // makes a few vector compares of them (`contains` per port was a
        // call per port, 1% of a replay).
        let has_port = |wanted: &u16| {
            b.ports
                .chunks(32)
                .any(|c| c.iter().fold(false, |found, p| found | (p == wanted)))
        };
        (self.any_layer == 0 || b.layer_kinds.iter().any(wanted_kind))
            && (self.any_port.is_empty() || self.any_port.iter().any(has_port))
    }

    /// Copies the packets of `from` that match into `into` (cleared first,
    /// allocations reused), every column rebased. Returns how many matched.
    pub fn select(&self, from: &PacketBatch, into: &mut PacketBatch) -> usize {
        clear(into, from.link_type);
        if !self.may_match(from) {
            return 0;
        }
        for i in 0..batch_len(from) {
            if self.matches(from, i) {
                copy_packet(from, i, into);
            }
        }
        batch_len(into)
    }
}

/// Empties a batch, keeping its allocations.
fn clear(b: &mut PacketBatch, link_type: u16) {
    b.link_type = link_type;
    b.data.clear();
    b.data_offsets.clear();
    b.data_offsets.push(0);
    b.wire_lengths.clear();
    b.timestamps.clear();
    b.layer_starts.clear();
    b.layer_starts.push(0);
    b.layer_kinds.clear();
    b.layer_offsets.clear();
    b.layer_lengths.clear();
    b.ip_versions.clear();
    b.ip_addresses.clear();
    b.ports.clear();
    b.fragment_offsets.clear();
}

/// Appends packet `i` of `from` to `into`. Reads past a column's end (not
/// made by [`BatchBuilder`]) give empty or zero values, never a panic.
fn copy_packet(from: &PacketBatch, i: usize, into: &mut PacketBatch) {
    let at = |v: &[u32], i: usize| v.get(i).copied().unwrap_or(0) as usize;
    let data = from
        .data
        .get(at(&from.data_offsets, i)..at(&from.data_offsets, i + 1))
        .unwrap_or_default();
    into.data.extend_from_slice(data);
    into.data_offsets.push(into.data.len() as u32);
    into.wire_lengths
        .push(from.wire_lengths.get(i).copied().unwrap_or(0));
    into.timestamps
        .push(from.timestamps.get(i).copied().unwrap_or(0));
    let layers = at(&from.layer_starts, i)..at(&from.layer_starts, i + 1);
    into.layer_kinds
        .extend_from_slice(from.layer_kinds.get(layers.clone()).unwrap_or_default());
    into.layer_offsets
        .extend_from_slice(from.layer_offsets.get(layers.clone()).unwrap_or_default());
    into.layer_lengths
        .extend_from_slice(from.layer_lengths.get(layers).unwrap_or_default());
    into.layer_starts.push(into.layer_kinds.len() as u32);
    into.ip_versions
        .push(from.ip_versions.get(i).copied().unwrap_or(0));
    match from.ip_addresses.get(32 * i..32 * i + 32) {
        Some(a) => into.ip_addresses.extend_from_slice(a),
        None => into.ip_addresses.extend_from_slice(&[0; 32]),
    }
    for j in [2 * i, 2 * i + 1] {
        into.ports.push(from.ports.get(j).copied().unwrap_or(0));
    }
    into.fragment_offsets.push(
        from.fragment_offsets
            .get(i)
            .copied()
            .unwrap_or(NOT_A_FRAGMENT),
    );
}

/// Packets in a batch.
pub fn batch_len(b: &PacketBatch) -> usize {
    b.data_offsets.len().saturating_sub(1)
}

/// An empty batch with room for `n` typical packets (256 bytes
/// and 5 layers each; vectors grow past that when needed).
pub fn empty_batch(link_type: u16, n: usize) -> PacketBatch {
    let mut data_offsets = Vec::with_capacity(n + 1);
    data_offsets.push(0);
    let mut layer_starts = Vec::with_capacity(n + 1);
    layer_starts.push(0);
    PacketBatch {
        link_type,
        data: Vec::with_capacity(n * 256),
        data_offsets,
        wire_lengths: Vec::with_capacity(n),
        timestamps: Vec::with_capacity(n),
        layer_starts,
        layer_kinds: Vec::with_capacity(n * 5),
        layer_offsets: Vec::with_capacity(n * 5),
        layer_lengths: Vec::with_capacity(n * 5),
        ip_versions: Vec::with_capacity(n),
        ip_addresses: Vec::with_capacity(n * 32),
        ports: Vec::with_capacity(n * 2),
        fragment_offsets: Vec::with_capacity(n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An Ethernet/IPv4/UDP frame (10.0.0.1 -> 10.0.0.2).
    fn udp4(src: u16, dst: u16, payload: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        etherparse::PacketBuilder::ethernet2([1; 6], [2; 6])
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .udp(src, dst)
            .write(&mut v, payload)
            .unwrap();
        v
    }

    /// An Ethernet/IPv6/TCP frame (2020:: -> 3030::).
    fn tcp6(src: u16, dst: u16, payload: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        etherparse::PacketBuilder::ethernet2([1; 6], [2; 6])
            .ipv6([0x20; 16], [0x30; 16], 64)
            .tcp(src, dst, 1, 1024)
            .write(&mut v, payload)
            .unwrap();
        v
    }

    fn push(b: &mut BatchBuilder, data: &[u8], ts_secs: u64) {
        b.push(RawPacket {
            ts_secs,
            ts_nanos: 5,
            wire_len: data.len() as u32 + 10,
            data,
        });
    }

    /// The column layout `wit/chef.wit` promises, for an IPv4/UDP packet,
    /// an IPv6/TCP packet and a frame that is not IP at all.
    #[test]
    fn columns_follow_the_wit_layout() {
        let udp4 = udp4(5353, 53, b"dns?");
        let tcp6 = tcp6(4000, 80, b"GET");
        let junk = [0xffu8; 20];

        let mut b = BatchBuilder::new(1);
        push(&mut b, &udp4, 1);
        push(&mut b, &tcp6, 2);
        push(&mut b, &junk, 3);
        let batch = b.take().expect("a batch");
        assert!(b.take().is_none(), "the builder starts over empty");

        assert_eq!(batch_len(&batch), 3);
        assert_eq!(batch.link_type, 1);
        let n1 = udp4.len() as u32;
        let n2 = n1 + tcp6.len() as u32;
        assert_eq!(batch.data_offsets, [0, n1, n2, n2 + 20]);
        assert_eq!(batch.data.len() as u32, n2 + 20);
        assert_eq!(batch.wire_lengths, [n1 + 10, tcp6.len() as u32 + 10, 30]);
        assert_eq!(
            batch.timestamps,
            [1_000_000_005, 2_000_000_005, 3_000_000_005]
        );
        // One layer-starts entry per packet plus one; kinds by enum position.
        assert_eq!(batch.layer_starts.len(), 4);
        let kinds = |i: usize| {
            let (s, e) = (
                batch.layer_starts[i] as usize,
                batch.layer_starts[i + 1] as usize,
            );
            batch.layer_kinds[s..e].to_vec()
        };
        let k = |k: LayerKind| k as u8;
        use LayerKind::*;
        assert_eq!(kinds(0), [k(Ethernet), k(Ipv4), k(Udp), k(Payload)]);
        assert_eq!(kinds(1), [k(Ethernet), k(Ipv6), k(Tcp), k(Payload)]);
        assert_eq!(batch.layer_kinds.len(), batch.layer_offsets.len());
        assert_eq!(batch.layer_kinds.len(), batch.layer_lengths.len());
        // Addresses: 32 bytes per packet, IPv4 in the first 4 of each 16.
        assert_eq!(batch.ip_versions, [4, 6, 0]);
        assert_eq!(batch.ip_addresses.len(), 3 * 32);
        assert_eq!(batch.ip_addresses[0..4], [10, 0, 0, 1]);
        assert_eq!(batch.ip_addresses[4..16], [0; 12]);
        assert_eq!(batch.ip_addresses[16..20], [10, 0, 0, 2]);
        assert_eq!(batch.ip_addresses[32..48], [0x20; 16]);
        assert_eq!(batch.ip_addresses[48..64], [0x30; 16]);
        assert_eq!(batch.ip_addresses[64..96], [0; 32]);
        assert_eq!(batch.ports, [5353, 53, 4000, 80, 0, 0]);
        assert_eq!(batch.fragment_offsets, [NOT_A_FRAGMENT; 3]);
    }

    /// Packet `i` of a batch, column by column, rebased to its own start.
    fn packet_columns(b: &PacketBatch, i: usize) -> String {
        let at = |v: &[u32], i: usize| v[i] as usize;
        let layers = at(&b.layer_starts, i)..at(&b.layer_starts, i + 1);
        format!(
            "{:?}",
            (
                &b.data[at(&b.data_offsets, i)..at(&b.data_offsets, i + 1)],
                b.wire_lengths[i],
                b.timestamps[i],
                &b.layer_kinds[layers.clone()],
                &b.layer_offsets[layers.clone()],
                &b.layer_lengths[layers],
                b.ip_versions[i],
                &b.ip_addresses[32 * i..32 * i + 32],
                &b.ports[2 * i..2 * i + 2],
                b.fragment_offsets[i],
            )
        )
    }

    /// An interest keeps exactly the packets it names, each one intact.
    #[test]
    fn interests_select_whole_packets() {
        let mut arp = Vec::new();
        etherparse::PacketBuilder::ethernet2([1; 6], [0xff; 6])
            .arp(
                etherparse::ArpPacket::new(
                    etherparse::ArpHardwareId::ETHERNET,
                    etherparse::EtherType::IPV4,
                    etherparse::ArpOperation::REQUEST,
                    &[1; 6],
                    &[10, 0, 0, 1],
                    &[0; 6],
                    &[10, 0, 0, 2],
                )
                .unwrap(),
            )
            .write(&mut arp)
            .unwrap();
        let mut b = BatchBuilder::new(1);
        let packets = [
            arp,
            udp4(4000, 53, b"payload"),
            udp4(4000, 80, b"payload"),
            tcp6(53, 4000, b"x"),
            udp4(5353, 5353, b"payload"),
        ];
        for (i, p) in packets.iter().enumerate() {
            push(&mut b, p, i as u64);
        }
        let batch = b.take().unwrap();

        let check = |interest: Interest, expect: &[usize]| {
            let mut out = empty_batch(0, 0);
            // Twice into the same batch: the second must not keep the first.
            interest.select(&batch, &mut out);
            assert_eq!(interest.select(&batch, &mut out), expect.len());
            assert_eq!(out.link_type, 1);
            let got: Vec<String> = (0..batch_len(&out))
                .map(|i| packet_columns(&out, i))
                .collect();
            let want: Vec<String> = expect.iter().map(|i| packet_columns(&batch, *i)).collect();
            assert_eq!(got, want, "{interest:?}");
        };
        use LayerKind::*;
        check(Interest::new(&[Arp], &[]), &[0]);
        check(Interest::new(&[Udp, Tcp], &[53, 5353]), &[1, 3, 4]);
        check(Interest::new(&[Udp], &[53]), &[1]);
        check(Interest::new(&[], &[80]), &[2]);
        check(Interest::new(&[Ipv6], &[]), &[3]);
        check(Interest::new(&[Icmpv4], &[]), &[]);
        // The batch has an ARP layer and port 53, but in different packets.
        check(Interest::new(&[Arp], &[53]), &[]);
        assert!(Interest::new(&[], &[]).is_everything());
        check(Interest::new(&[], &[]), &[0, 1, 2, 3, 4]);
    }

    #[test]
    fn flushes_at_its_packet_limit() {
        let mut b = BatchBuilder::with_max_packets(1, 2);
        push(&mut b, &[0; 14], 1);
        assert!(!b.is_full());
        push(&mut b, &[0; 14], 1);
        assert!(b.is_full());
        assert_eq!(b.take().map(|x| batch_len(&x)), Some(2));
    }
}
