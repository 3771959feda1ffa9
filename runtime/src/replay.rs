//! File replay: pcap and pcapng files read in Rust, the way Wireshark
//! reads them.
//!
//! # Why not libpcap for files
//!
//! libpcap refuses a pcapng file whose interfaces have different link
//! types ("an interface has a type 0 different from the type of the first
//! interface"): a capture taken on several interfaces at once
//! (`dumpcap -i eth0 -i lo`) gave 0 packets. Wireshark reads such files
//! packet by packet, each decoded by its own interface's link type and
//! timestamped by its own interface's resolution. So files are read here
//! with `pcap-parser` (rusticata's streaming reader of both formats, all
//! byte orders and timestamp resolutions), and libpcap stays for what only
//! it does: live capture, and compiling BPF filters, which are compiled
//! once per link type the file uses and run on each packet
//! (`pcap_offline_filter`). It also drops libpcap's two stdio copies per
//! replayed packet: a packet's bytes are handed on from the reader's own
//! buffer.
//!
//! # What is an error
//!
//! A file cut short inside its last record ends the replay after the last
//! whole record, with a warning (what was captured before the cut is good).
//! A file whose structure is broken (an unreadable block, a packet of an
//! interface the section never described, a record larger than any capture
//! tool writes) is an error that names the record and its byte offset: the
//! replay stops there, and nd-sniff exits non-zero.

use std::path::{Path, PathBuf};

use pcap_parser::pcapng::Block;
use pcap_parser::traits::PcapReaderIterator;
use pcap_parser::{PcapBlockOwned, PcapError};

use crate::capture::CaptureError;

/// The reader's initial buffer. Reads of this size keep the system calls
/// out of a replay's profile.
const READ_BUFFER: usize = 1 << 20;
/// The largest block the reader grows its buffer for. libpcap and
/// Wireshark write packets of at most 256 KiB; pcapng blocks with many
/// options or name records can be larger, but a length field claiming
/// more than this is corruption, not a capture.
const MAX_BLOCK: usize = 64 << 20;
/// pcapng block type of the obsolete Packet Block (pcap-parser leaves it
/// unparsed; old Wireshark versions wrote it).
const OBSOLETE_PACKET_BLOCK: u32 = 2;
/// A classic pcap header's link type field also carries FCS flags in its
/// upper bits (libpcap's `LT_LINKTYPE`).
const LINKTYPE_MASK: u32 = 0x03FF_FFFF;

/// One interface of a pcapng section (or a classic pcap's only one).
#[derive(Debug, Clone, Copy)]
struct Interface {
    /// Its LINKTYPE number: how its packets are decoded.
    link_type: u16,
    /// Timestamp units per second (10^6 for microseconds).
    units: u64,
    /// Seconds added to every timestamp (pcapng `if_tsoffset`).
    offset: i64,
}

/// A replayed packet, borrowed from the reader's buffer.
#[derive(Debug)]
pub(crate) struct FilePacket<'a> {
    /// Its interface's link type.
    pub link_type: u16,
    /// Capture time, seconds since the epoch.
    pub ts_secs: u64,
    /// Capture time, nanoseconds within the second.
    pub ts_nanos: u32,
    /// Length on the wire.
    pub wire_len: u32,
    /// The captured bytes.
    pub data: &'a [u8],
}

/// What [`FileReader::next`] found.
#[derive(Debug)]
pub(crate) enum Read<'a> {
    /// The next packet (that passes the filter).
    Packet(FilePacket<'a>),
    /// The end of the file.
    End,
    /// The file ends inside a record: the text says where.
    CutShort(String),
}

/// A compiled BPF filter for one link type.
struct Program {
    link_type: u16,
    /// `None`: libpcap found that the filter can match no packet of this
    /// link type (`arp` on raw IP); in a file of several link types that
    /// is no error, the others' packets may match.
    program: Option<pcap::BpfProgram>,
}

/// An open capture file.
pub(crate) struct FileReader {
    reader: Box<dyn PcapReaderIterator + Send>,
    /// Bytes of the block handed out last, consumed before reading on
    /// (a packet borrows the reader's buffer until the next call).
    pending: usize,
    /// What the headers read so far say (apart from `reader`, so a block
    /// borrowing the reader can be applied to it).
    state: State,
}

/// What a file's headers say, and the filter.
struct State {
    /// The file, for messages.
    path: PathBuf,
    /// The current pcapng section's interfaces, or the pcap header's.
    interfaces: Vec<Interface>,
    /// Whether the current pcapng section is big-endian (for the blocks
    /// pcap-parser leaves to us).
    big_endian: bool,
    /// Packet records read so far, filtered out ones included (numbered
    /// from 1 in messages, as Wireshark numbers frames).
    records: u64,
    /// The BPF filter, if any.
    filter: Option<String>,
    /// The filter compiled for each link type met so far.
    programs: Vec<Program>,
}

impl FileReader {
    /// Opens `path` and reads its headers up to the first packet, so that
    /// a file that is no capture, or a filter that does not compile for
    /// its link types, is an error before anything starts.
    pub(crate) fn open(path: &Path, filter: Option<&str>) -> Result<FileReader, CaptureError> {
        let file_err = |reason: String| CaptureError::File {
            path: path.display().to_string(),
            reason,
        };
        let file = std::fs::File::open(path).map_err(|e| file_err(e.to_string()))?;
        let reader = pcap_parser::create_reader(READ_BUFFER, file).map_err(|e| {
            file_err(match e {
                PcapError::Eof => "the file is empty".to_string(),
                PcapError::Incomplete(_) | PcapError::UnexpectedEof => {
                    "the file ends inside its header".to_string()
                }
                PcapError::HeaderNotRecognized => {
                    "not a pcap or pcapng file (unknown magic number)".to_string()
                }
                other => format!("{other:?}"),
            })
        })?;
        if let Some(f) = filter {
            // Syntax first, for a file without packets too.
            match compile(f, 1) {
                Err(CaptureError::BadFilter { reason, .. }) if reason.contains(REJECTS_ALL) => {}
                Err(e) => return Err(e),
                Ok(_) => {}
            }
        }
        let mut r = FileReader {
            reader,
            pending: 0,
            state: State {
                path: path.to_path_buf(),
                interfaces: Vec::new(),
                big_endian: false,
                records: 0,
                filter: filter.map(str::to_string),
                programs: Vec::new(),
            },
        };
        // Up to the first packet, which stays unread (an end or a cut is
        // met again by the first `next`).
        loop {
            match r.block()? {
                Step::Again => continue,
                Step::Packet(_) => {
                    r.pending = 0;
                    r.state.records -= 1;
                    break;
                }
                Step::End | Step::Cut(_) => break,
            }
        }
        Ok(r)
    }

    /// Bytes of the file read so far (replay progress).
    pub(crate) fn position(&self) -> u64 {
        self.reader.consumed() as u64
    }

    /// The next packet that passes the filter, the end, or a cut.
    pub(crate) fn next(&mut self) -> Result<Read<'_>, CaptureError> {
        let found = loop {
            let found = match self.block()? {
                Step::End => return Ok(Read::End),
                Step::Cut(why) => return Ok(Read::CutShort(why)),
                Step::Again => continue,
                Step::Packet(found) => found,
            };
            let Some(data) = self.reader.data().get(found.at..found.at + found.len) else {
                let at = self.position();
                return Err(self
                    .state
                    .broken(at, "its packet data lies outside its block"));
            };
            let passes = match self.state.program(found.link_type)? {
                Filter::None => true,
                Filter::Matches(program) => program.filter(data),
                Filter::RejectsAll => false,
            };
            if passes {
                break found;
            }
        };
        // Taken again out of the loop (the borrow checker cannot see that a
        // filtered-out packet's borrow ends before the next read).
        let data = self
            .reader
            .data()
            .get(found.at..found.at + found.len)
            .unwrap_or_default();
        Ok(Read::Packet(FilePacket {
            link_type: found.link_type,
            ts_secs: found.ts_secs,
            ts_nanos: found.ts_nanos,
            wire_len: found.wire_len,
            data,
        }))
    }

    /// Reads one block, after consuming the one handed out last.
    fn block(&mut self) -> Result<Step, CaptureError> {
        if self.pending > 0 {
            // Without the shift `consume` does at half the buffer (a
            // memmove of up to half a MiB, ~9% of a replay's profile):
            // the buffer moves its data only on `refill`, when it is
            // used up, and then only the part of a record left at its end.
            self.reader.consume_noshift(self.pending);
            self.pending = 0;
        }
        let at = self.position();
        // Packet bytes are located as an offset from the start of the
        // unconsumed data, where every block is parsed from (`next` does
        // not move the buffer; only `consume` and `refill` do).
        let base = self.reader.data().as_ptr() as usize;
        match self.reader.next() {
            Ok((size, block)) => {
                self.pending = size;
                Ok(match self.state.apply(block, base, at)? {
                    Some(found) => Step::Packet(found),
                    None => Step::Again,
                })
            }
            Err(e) => {
                let e = classify(e);
                self.read_error(e, at)
            }
        }
    }

    /// What a read error means for the replay.
    fn read_error(&mut self, e: ReadError, at: u64) -> Result<Step, CaptureError> {
        match e {
            ReadError::End => Ok(Step::End),
            ReadError::Refill => match self.reader.refill() {
                Ok(()) => Ok(Step::Again),
                Err(_) => Err(self.state.broken(at, "a read error")),
            },
            ReadError::Grow => {
                let size = self.reader.data().len().max(READ_BUFFER) * 2;
                if size > MAX_BLOCK || !self.reader.grow(size) {
                    let why = format!("a block of more than {} MiB", MAX_BLOCK >> 20);
                    return Err(self.state.broken(at, &why));
                }
                match self.reader.refill() {
                    Ok(()) => Ok(Step::Again),
                    Err(_) => Err(self.state.broken(at, "a read error")),
                }
            }
            ReadError::Cut => Ok(Step::Cut(format!(
                "{}: cut short inside record {} (byte {at})",
                self.state.path.display(),
                self.state.records + 1,
            ))),
            ReadError::Broken(why) => Err(self.state.broken(at, &why)),
        }
    }
}

/// libpcap's complaint about a filter that can match nothing on a link
/// type (`pcap_compile`'s "expression rejects all packets").
const REJECTS_ALL: &str = "rejects all packets";

/// The filter for one link type.
enum Filter<'a> {
    /// No filter: every packet passes.
    None,
    /// Packets pass that the program matches.
    Matches(&'a pcap::BpfProgram),
    /// No packet of this link type can match.
    RejectsAll,
}

/// What reading one block did.
enum Step {
    /// A packet, located in the reader's data.
    Packet(Located),
    /// A header applied, or the buffer refilled: read again.
    Again,
    /// The file is cut short (where, for the log).
    Cut(String),
    /// The end of the file.
    End,
}

/// A read error of pcap-parser's, without its borrow of the buffer.
enum ReadError {
    End,
    Refill,
    Grow,
    Cut,
    Broken(String),
}

fn classify(e: PcapError<&[u8]>) -> ReadError {
    match e {
        PcapError::Eof => ReadError::End,
        PcapError::Incomplete(_) => ReadError::Refill,
        PcapError::BufferTooSmall => ReadError::Grow,
        PcapError::UnexpectedEof => ReadError::Cut,
        PcapError::ReadError => ReadError::Broken("a read error".to_string()),
        PcapError::NomError(_, kind) | PcapError::OwnedNomError(_, kind) => {
            ReadError::Broken(format!("an unreadable block ({kind:?})"))
        }
        PcapError::HeaderNotRecognized => ReadError::Broken("an unknown header".to_string()),
    }
}

impl State {
    /// Applies a header block (`None`), or locates a packet's bytes as an
    /// offset from `base`. `at`: the block's byte offset in the file.
    fn apply(
        &mut self,
        block: PcapBlockOwned<'_>,
        base: usize,
        at: u64,
    ) -> Result<Option<Located>, CaptureError> {
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
    fn interface(&self, id: u32, at: u64) -> Result<Interface, CaptureError> {
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

    /// The filter compiled for `link_type` (compiled the first time).
    fn program(&mut self, link_type: u16) -> Result<Filter<'_>, CaptureError> {
        let Some(filter) = &self.filter else {
            return Ok(Filter::None);
        };
        let i = match self.programs.iter().position(|p| p.link_type == link_type) {
            Some(i) => i,
            None => {
                let program = match compile(filter, link_type) {
                    Ok(p) => Some(p),
                    Err(CaptureError::BadFilter { reason, .. }) if reason.contains(REJECTS_ALL) => {
                        tracing::warn!(
                            "the filter {filter:?} matches no packet of link type {link_type}: {}'s packets of that link type are skipped",
                            self.path.display()
                        );
                        None
                    }
                    Err(e) => return Err(e),
                };
                self.programs.push(Program { link_type, program });
                self.programs.len() - 1
            }
        };
        Ok(match &self.programs[i].program {
            Some(p) => Filter::Matches(p),
            None => Filter::RejectsAll,
        })
    }

    /// A structural error at the record being read (at byte `at`).
    fn broken(&self, at: u64, why: &str) -> CaptureError {
        CaptureError::File {
            path: self.path.display().to_string(),
            reason: format!("record {} (byte {at}): {why}", self.records + 1),
        }
    }
}

/// A packet located in the reader's buffer.
struct Located {
    link_type: u16,
    ts_secs: u64,
    ts_nanos: u32,
    wire_len: u32,
    /// Offset of its bytes in the reader's unconsumed data.
    at: usize,
    len: usize,
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

/// libpcap's DLT number for a LINKTYPE number where the two differ (the
/// values BPF compilation expects; see libpcap's `pcap-common.c`).
fn dlt(link_type: u16) -> i32 {
    match link_type {
        100 => 11, // ATM RFC 1483
        101 => 12, // raw IP (DLT_RAW on Linux)
        other => i32::from(other),
    }
}

/// Compiles `filter` for packets of `link_type`.
fn compile(filter: &str, link_type: u16) -> Result<pcap::BpfProgram, CaptureError> {
    let bad = |reason: String| CaptureError::BadFilter {
        filter: filter.to_string(),
        reason,
    };
    let dead =
        pcap::Capture::dead(pcap::Linktype(dlt(link_type))).map_err(|e| bad(e.to_string()))?;
    dead.compile(filter, true).map_err(|e| {
        bad(if link_type == 1 {
            e.to_string()
        } else {
            format!("{e} (for the file's link type {link_type})")
        })
    })
}
