//! A whole batch's columns (`wit/chef.wit`'s `packet-batch`), borrowed: how
//! the kitchen (and, natively, the Rust chef SDK) names a batch in one go.

use crate::Packet;

/// `fragment-offsets` value for a packet that is not a fragment.
pub const NOT_A_FRAGMENT: u32 = u32::MAX;

/// The columns of a `packet-batch` that naming reads. Each side of the WIT
/// boundary has its own generated `PacketBatch` type; both lend their
/// fields here, with [`batch_view!`](crate::batch_view).
#[derive(Debug, Clone, Copy)]
pub struct Batch<'a> {
    /// Every packet's bytes, back to back.
    pub data: &'a [u8],
    /// n + 1 offsets into `data`.
    pub data_offsets: &'a [u32],
    /// n + 1 offsets into the layer columns.
    pub layer_starts: &'a [u32],
    /// Layer kind numbers.
    pub layer_kinds: &'a [u8],
    /// Layer offsets within their packet.
    pub layer_offsets: &'a [u32],
    /// Layer lengths.
    pub layer_lengths: &'a [u32],
    /// Two per packet: source, destination.
    pub ports: &'a [u16],
    /// One per packet; [`NOT_A_FRAGMENT`] for none.
    pub fragment_offsets: &'a [u32],
}

impl<'a> Batch<'a> {
    /// Packets in the batch.
    pub fn len(&self) -> usize {
        self.data_offsets.len().saturating_sub(1)
    }

    /// Whether the batch has no packets.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Packet `i`, or `None` if the columns do not describe it (a bug
    /// upstream; named as a packet without layers).
    pub fn packet(&self, i: usize) -> Option<Packet<'a>> {
        let at = |v: &[u32], i: usize| v.get(i).map(|x| *x as usize);
        let data = self
            .data
            .get(at(self.data_offsets, i)?..at(self.data_offsets, i + 1)?)?;
        let layers = at(self.layer_starts, i)?..at(self.layer_starts, i + 1)?;
        let frag = *self.fragment_offsets.get(i)?;
        Some(Packet {
            data,
            kinds: self.layer_kinds.get(layers.clone())?,
            offsets: self.layer_offsets.get(layers.clone())?,
            lengths: self.layer_lengths.get(layers)?,
            ports: [*self.ports.get(2 * i)?, *self.ports.get(2 * i + 1)?],
            fragment_offset: (frag != NOT_A_FRAGMENT).then_some(frag),
        })
    }

    /// Names every layer of every packet: packet `i`'s ids end up in
    /// `ids[starts[i] .. starts[i + 1]]` (`starts` gets n + 1 entries).
    /// Both vectors are cleared first, so a caller can reuse them.
    pub fn name(&self, starts: &mut Vec<u32>, ids: &mut Vec<u16>) {
        starts.clear();
        ids.clear();
        starts.reserve(self.len() + 1);
        ids.reserve(self.layer_kinds.len() + self.len());
        starts.push(0);
        for i in 0..self.len() {
            if let Some(p) = self.packet(i) {
                crate::scapy_layers(&p, |l| ids.push(l as u16));
            }
            starts.push(ids.len() as u32);
        }
    }
}

/// The [`Batch`] view of a generated `PacketBatch` (the host's or a
/// guest's: both have these fields, by these names).
#[macro_export]
macro_rules! batch_view {
    ($batch:expr) => {{
        let b = $batch;
        $crate::Batch {
            data: &b.data,
            data_offsets: &b.data_offsets,
            layer_starts: &b.layer_starts,
            layer_kinds: &b.layer_kinds,
            layer_offsets: &b.layer_offsets,
            layer_lengths: &b.layer_lengths,
            ports: &b.ports,
            fragment_offsets: &b.fragment_offsets,
        }
    }};
}
