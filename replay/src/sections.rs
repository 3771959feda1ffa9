//! What a capture file's header blocks say (sections, interfaces: link
//! types and timestamp resolutions), and where each packet block's bytes
//! and time are.

use std::path::PathBuf;

use pcap_parser::pcapng::Block;
use pcap_parser::PcapBlockOwned;

use crate::filter::{Filter, Filters};
use crate::ReplayError;

/// pcapng block type of the obsolete Packet Block (pcap-parser leaves it
/// unparsed; old Wireshark versions wrote it).
const OBSOLETE_PACKET_BLOCK: u32 = 2;
/// A classic pcap header's link type field also carries FCS flags in its
/// upper bits (libpcap's `LT_LINKTYPE`).
const LINKTYPE_MASK: u32 = 0x03FF_FFFF;

/// One interface of a pcapng section (or a classic pcap's only one).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Interface {
    /// Its LINKTYPE number: how its packets are decoded.
    link_type: u16,
    /// Timestamp units per second (10^6 for microseconds).
    units: u64,
    /// Seconds added to every timestamp (pcapng `if_tsoffset`).
    offset: i64,
}

/// What a file's headers say, and the filter.
pub(crate) struct State {
    /// The file, for messages.
    pub(crate) path: PathBuf,
    /// The current pcapng section's interfaces, or the pcap header's.
    pub(crate) interfaces: Vec<Interface>,
    /// Whether the current pcapng section is big-endian (for the blocks
    /// pcap-parser leaves to us).
    pub(crate) big_endian: bool,
    /// Packet records read so far, filtered out ones included (numbered
    /// from 1 in messages, as Wireshark numbers frames).
    pub(crate) records: u64,
    /// The BPF filter, compiled per link type.
    pub(crate) filters: Filters,
}

impl State {
    /// Applies a header block (`None`), or locates a packet's bytes as an
    /// offset from `base`. `at`: the block's byte offset in the file.
    pub(crate) fn apply(
        &mut self,
        block: PcapBlockOwned<'_>,
        base: usize,
        at: u64,
    ) -> Result<Option<Located>, ReplayError> {
        let packet = match block {
            PcapBlockOwned::LegacyHeader(h) => {
                let link_type =
                    u16::try_from(h.network.0 as u32 & LINKTYPE_MASK).unwrap_or(u16::MAX);
                let units = if h.is_nanosecond_precision() {
                    1_000_000_000
                } else {
                    1_000_000
                };
                self.interfaces = vec![Interface {
                    link_type,
                    units,
                    offset: 0,
                }];
                self.program(link_type)?;
                return Ok(None);
            }
            PcapBlockOwned::Legacy(b) => {
                let iface = self.interface(0, at)?;
                Raw {
                    iface,
                    secs: u64::from(b.ts_sec),
                    nanos: frac_to_nanos(u64::from(b.ts_usec), iface.units),
                    wire_len: b.origlen,
                    data: b.data,
                }
            }
            PcapBlockOwned::NG(Block::SectionHeader(shb)) => {
                self.big_endian = shb.big_endian();
                self.interfaces.clear();
                return Ok(None);
            }
            PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => {
                let Some(units) = idb.ts_resolution() else {
                    let why = format!(
                        "interface {} has an invalid timestamp resolution {}",
                        self.interfaces.len(),
                        idb.if_tsresol
                    );
                    return Err(self.broken(at, &why));
                };
                let link_type = u16::try_from(idb.linktype.0).unwrap_or(u16::MAX);
                self.interfaces.push(Interface {
                    link_type,
                    units,
                    offset: idb.if_tsoffset,
                });
                self.program(link_type)?;
                return Ok(None);
            }
            PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => {
                let iface = self.interface(epb.if_id, at)?;
                let (secs, nanos) = ng_time(epb.ts_high, epb.ts_low, iface);
                Raw {
                    iface,
                    secs,
                    nanos,
                    wire_len: epb.origlen,
                    // Without the block's padding.
                    data: epb.data.get(..epb.caplen as usize).unwrap_or(epb.data),
                }
            }
            PcapBlockOwned::NG(Block::SimplePacket(spb)) => {
                // No timestamp; always interface 0.
                let iface = self.interface(0, at)?;
                Raw {
                    iface,
                    secs: 0,
                    nanos: 0,
                    wire_len: spb.origlen,
                    data: spb.data.get(..spb.origlen as usize).unwrap_or(spb.data),
                }
            }
            PcapBlockOwned::NG(Block::Unknown(u))
                if block_type(u.block_type, self.big_endian) == OBSOLETE_PACKET_BLOCK =>
            {
                let Some(p) = obsolete_packet(u.data, self.big_endian) else {
                    return Err(self.broken(at, "a Packet Block too short for its header"));
                };
                let iface = self.interface(u32::from(p.if_id), at)?;
                let (secs, nanos) = ng_time(p.ts_high, p.ts_low, iface);
                Raw {
                    iface,
                    secs,
                    nanos,
                    wire_len: p.wire_len,
                    data: p.data,
                }
            }
            // Statistics, name resolution, secrets, custom blocks: not packets.
            PcapBlockOwned::NG(_) => return Ok(None),
        };
        self.records += 1;
        Ok(Some(Located {
            link_type: packet.iface.link_type,
            ts_secs: packet.secs,
            ts_nanos: packet.nanos,
            wire_len: packet.wire_len,
            at: (packet.data.as_ptr() as usize).wrapping_sub(base),
            len: packet.data.len(),
        }))
    }

    /// The interface a packet names.
    fn interface(&self, id: u32, at: u64) -> Result<Interface, ReplayError> {
        match self.interfaces.get(id as usize) {
            Some(i) => Ok(*i),
            None => {
                let why = format!(
                    "a packet of interface {id}, but the section describes {} interface(s)",
                    self.interfaces.len()
                );
                Err(self.broken(at, &why))
            }
        }
    }

    /// The filter for packets of `link_type`.
    pub(crate) fn program(&mut self, link_type: u16) -> Result<Filter<'_>, ReplayError> {
        self.filters.get(link_type, &self.path)
    }

    /// A structural error at the record being read (at byte `at`).
    pub(crate) fn broken(&self, at: u64, why: &str) -> ReplayError {
        ReplayError::File {
            path: self.path.display().to_string(),
            reason: format!("record {} (byte {at}): {why}", self.records + 1),
        }
    }
}

/// A packet located in the reader's buffer.
pub(crate) struct Located {
    pub(crate) link_type: u16,
    pub(crate) ts_secs: u64,
    pub(crate) ts_nanos: u32,
    pub(crate) wire_len: u32,
    /// Offset of its bytes in the reader's unconsumed data.
    pub(crate) at: usize,
    pub(crate) len: usize,
}

impl Located {
    /// Its bytes, in the reader's unconsumed `data` (`None` if they are
    /// not there, which a consistent block never makes).
    pub(crate) fn bytes<'d>(&self, data: &'d [u8]) -> Option<&'d [u8]> {
        data.get(self.at..self.at.checked_add(self.len)?)
    }
}

/// A packet block's fields, still borrowing the block.
struct Raw<'b> {
    iface: Interface,
    secs: u64,
    nanos: u32,
    wire_len: u32,
    data: &'b [u8],
}

/// The obsolete Packet Block's fields.
struct ObsoletePacket<'b> {
    if_id: u16,
    ts_high: u32,
    ts_low: u32,
    wire_len: u32,
    data: &'b [u8],
}

/// Parses an obsolete Packet Block's body (after type and length):
/// interface id (2 bytes), drops count (2), timestamp high and low (4 + 4),
/// captured length (4), wire length (4), then the data.
fn obsolete_packet(body: &[u8], big_endian: bool) -> Option<ObsoletePacket<'_>> {
    let u32_at = |at: usize| -> Option<u32> {
        let b: [u8; 4] = body.get(at..at + 4)?.try_into().ok()?;
        Some(if big_endian {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        })
    };
    let id: [u8; 2] = body.get(..2)?.try_into().ok()?;
    let if_id = if big_endian {
        u16::from_be_bytes(id)
    } else {
        u16::from_le_bytes(id)
    };
    let caplen = u32_at(12)? as usize;
    Some(ObsoletePacket {
        if_id,
        ts_high: u32_at(4)?,
        ts_low: u32_at(8)?,
        wire_len: u32_at(16)?,
        data: body.get(20..20usize.checked_add(caplen)?)?,
    })
}

/// A block type as the section's byte order reads it (pcap-parser reads
/// unknown blocks' types little-endian).
fn block_type(raw: u32, big_endian: bool) -> u32 {
    if big_endian {
        raw.swap_bytes()
    } else {
        raw
    }
}

/// A pcapng timestamp (64 bits of `iface.units` per second) as seconds
/// and nanoseconds since the epoch.
fn ng_time(high: u32, low: u32, iface: Interface) -> (u64, u32) {
    let ts = (u64::from(high) << 32) | u64::from(low);
    let units = iface.units.max(1);
    let secs = (ts / units).saturating_add_signed(iface.offset);
    (secs, frac_to_nanos(ts % units, units))
}

/// A fraction of a second in `units` per second, as nanoseconds.
fn frac_to_nanos(frac: u64, units: u64) -> u32 {
    let nanos = u128::from(frac) * 1_000_000_000 / u128::from(units.max(1));
    nanos.min(999_999_999) as u32
}
