//! The packet view the naming rules read: one packet's bytes and the
//! kitchen's decoded layers, as the batch columns carry them.

use nd_decode::LayerKind;

/// One packet as a batch carries it (see `wit/chef.wit`): its captured
/// bytes, its layers as three parallel columns, its ports and fragment
/// offset. Borrowed, so the kitchen names a batch without copying it and a
/// guest SDK builds one from its own view for free.
///
/// Nothing here is trusted: a layer whose range is outside `data` reads as
/// empty, a kind number this crate does not know is skipped, and the three
/// columns may have different lengths (the shortest wins).
#[derive(Debug, Clone, Copy)]
pub struct Packet<'a> {
    /// The captured bytes.
    pub data: &'a [u8],
    /// Each layer's kind number (`LayerKind as u8`, outermost first).
    pub kinds: &'a [u8],
    /// Each layer's offset from the start of `data`.
    pub offsets: &'a [u32],
    /// Each layer's captured length.
    pub lengths: &'a [u32],
    /// TCP/UDP source and destination port of the innermost transport
    /// header; meaningless without a `tcp` or `udp` layer.
    pub ports: [u16; 2],
    /// For an IP fragment, its offset in bytes (0: the first fragment).
    pub fragment_offset: Option<u32>,
}

impl<'a> Packet<'a> {
    /// The layers, outermost first, with their bytes.
    pub fn layers(&self) -> impl Iterator<Item = (LayerKind, &'a [u8])> + '_ {
        let data = self.data;
        self.kinds
            .iter()
            .zip(self.offsets)
            .zip(self.lengths)
            .filter_map(move |((&kind, &offset), &length)| {
                let kind = LayerKind::from_number(kind)?;
                let start = (offset as usize).min(data.len());
                let end = start.saturating_add(length as usize).min(data.len());
                Some((kind, &data[start..end]))
            })
    }

    /// The bytes of the first layer of `kind`.
    pub fn layer(&self, kind: LayerKind) -> Option<&'a [u8]> {
        self.layers().find(|(k, _)| *k == kind).map(|(_, b)| b)
    }

    /// Whether the packet has a layer of `kind`.
    pub fn has(&self, kind: LayerKind) -> bool {
        self.kinds.contains(&(kind as u8))
    }

    /// The ports, when the packet has a TCP or UDP layer.
    pub fn ports(&self) -> Option<[u16; 2]> {
        (self.has(LayerKind::Tcp) || self.has(LayerKind::Udp)).then_some(self.ports)
    }

    /// Whether the packet is an IP fragment other than the first.
    pub fn is_later_fragment(&self) -> bool {
        self.fragment_offset.is_some_and(|o| o != 0)
    }
}

/// A packet decoded by `nd_decode`, with the columns a [`Packet`] borrows:
/// for tests, fuzzing and the native benchmarks, where no batch exists.
#[derive(Debug, Clone, Default)]
pub struct Decoded {
    /// The captured bytes.
    pub data: Vec<u8>,
    /// Layer kind numbers.
    pub kinds: Vec<u8>,
    /// Layer offsets.
    pub offsets: Vec<u32>,
    /// Layer lengths.
    pub lengths: Vec<u32>,
    /// Source and destination port (0 without TCP/UDP).
    pub ports: [u16; 2],
    /// The fragment offset of a fragment.
    pub fragment_offset: Option<u32>,
}

impl Decoded {
    /// Decodes `data` captured on `link` with `nd_decode`.
    pub fn new(link: nd_decode::LinkType, data: &[u8]) -> Decoded {
        let mut layers = Vec::new();
        let s = nd_decode::decode(link, data, &mut layers);
        Decoded {
            data: data.to_vec(),
            kinds: layers.iter().map(|l| l.kind as u8).collect(),
            offsets: layers.iter().map(|l| l.offset).collect(),
            lengths: layers.iter().map(|l| l.length).collect(),
            ports: [s.src_port.unwrap_or(0), s.dst_port.unwrap_or(0)],
            fragment_offset: s.fragment_offset,
        }
    }

    /// The view the naming rules read.
    pub fn view(&self) -> Packet<'_> {
        Packet {
            data: &self.data,
            kinds: &self.kinds,
            offsets: &self.offsets,
            lengths: &self.lengths,
            ports: self.ports,
            fragment_offset: self.fragment_offset,
        }
    }
}
