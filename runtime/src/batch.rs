//! Building the batches that cross into chefs.
//!
//! A batch is one flat byte buffer plus an index (see `wit/chef.wit`). It is
//! flushed when it holds [`MAX_BATCH_PACKETS`] packets or [`MAX_BATCH_BYTES`]
//! bytes, or (live capture) when its oldest packet is [`MAX_BATCH_AGE`] old,
//! so batching bounds latency to about a millisecond.

use std::time::{Duration, Instant};

use crate::bindings::netdumplings::chef::types::{PacketBatch, PacketInfo};
use crate::decode::{decode, LinkType};

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
    /// Flush threshold in packets ([`MAX_BATCH_PACKETS`] unless a benchmark
    /// asks for smaller batches to measure the per-call cost).
    max_packets: usize,
    link: LinkType,
    link_type: u16,
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
            batch: empty(max_packets),
            max_packets,
            link: LinkType::from_linktype(link_type),
            link_type,
            started: None,
        }
    }

    /// Decodes and appends one packet.
    pub fn push(&mut self, p: RawPacket<'_>) {
        if self.started.is_none() {
            self.started = Some(Instant::now());
        }
        // A single packet larger than u32 cannot come from libpcap; clamp anyway.
        let data_offset = self.batch.data.len() as u32;
        self.batch.data.extend_from_slice(p.data);
        let layers_start = self.batch.layers.len() as u32;
        let s = decode(self.link, p.data, &mut self.batch.layers);
        self.batch.packets.push(PacketInfo {
            data_offset,
            data_length: p.data.len() as u32,
            wire_length: p.wire_len.max(p.data.len() as u32),
            timestamp_secs: p.ts_secs,
            timestamp_nanos: p.ts_nanos.min(999_999_999),
            link_type: self.link_type,
            layers_start,
            layers_count: self.batch.layers.len() as u32 - layers_start,
            src_addr: s.src_addr,
            dst_addr: s.dst_addr,
            src_port: s.src_port,
            dst_port: s.dst_port,
            fragment_offset: s.fragment_offset,
        });
    }

    /// Whether the batch should be flushed now because of its size.
    pub fn is_full(&self) -> bool {
        self.batch.packets.len() >= self.max_packets || self.batch.data.len() >= MAX_BATCH_BYTES
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
        self.batch.packets.len()
    }

    /// Whether the current batch is empty.
    pub fn is_empty(&self) -> bool {
        self.batch.packets.is_empty()
    }

    /// Takes the current batch (if it has packets) and starts a new one.
    pub fn take(&mut self) -> Option<PacketBatch> {
        if self.batch.packets.is_empty() {
            return None;
        }
        self.started = None;
        Some(std::mem::replace(&mut self.batch, empty(self.max_packets)))
    }
}

/// An empty batch with room for `max_packets` typical packets (256 bytes
/// and 5 layers each; vectors grow past that when needed).
fn empty(max_packets: usize) -> PacketBatch {
    PacketBatch {
        data: Vec::with_capacity(max_packets * 256),
        packets: Vec::with_capacity(max_packets),
        layers: Vec::with_capacity(max_packets * 5),
    }
}
