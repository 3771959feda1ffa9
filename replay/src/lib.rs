//! File replay for the kitchen (`nd-sniff --read`): pcap and pcapng files
//! read in Rust, the way Wireshark reads them. Its own crate, without
//! wasmtime, so that it can be fuzzed (`just fuzz replay`).
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
//!
//! # Layout
//!
//! - `lib.rs`: [`FileReader`], the loop over pcap-parser's blocks (consume,
//!   refill, grow) and what it hands out ([`Read`], [`FilePacket`]).
//! - `sections.rs`: what header blocks say (sections, interfaces with their
//!   link types and timestamp resolutions) and where each packet block's
//!   bytes and time are; the obsolete Packet Block, parsed by hand.
//! - `filter.rs`: BPF filters, compiled by libpcap once per link type.
//! - `error.rs`: [`ReplayError`].
//!
//! Dependencies point one way: `lib` -> `sections` -> `filter` -> `error`.

mod error;
mod filter;
mod sections;
#[cfg(test)]
mod tests;

use std::path::Path;

use pcap_parser::traits::PcapReaderIterator;
use pcap_parser::PcapError;

pub use error::ReplayError;
use filter::{Filter, Filters};
use sections::{Located, State};

/// The reader's initial buffer. Reads of this size keep the system calls
/// out of a replay's profile.
const READ_BUFFER: usize = 1 << 20;
/// The largest block the reader grows its buffer for. libpcap and
/// Wireshark write packets of at most 256 KiB; pcapng blocks with many
/// options or name records can be larger, but a length field claiming
/// more than this is corruption, not a capture.
const MAX_BLOCK: usize = 64 << 20;
/// A replayed packet, borrowed from the reader's buffer.
#[derive(Debug)]
pub struct FilePacket<'a> {
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

/// What [`FileReader::next_packet`] found.
#[derive(Debug)]
pub enum Read<'a> {
    /// The next packet (that passes the filter).
    Packet(FilePacket<'a>),
    /// The end of the file.
    End,
    /// The file ends inside a record: the text says where.
    CutShort(String),
}

/// An open capture file.
pub struct FileReader {
    reader: Box<dyn PcapReaderIterator + Send>,
    /// Bytes of the block handed out last, consumed before reading on
    /// (a packet borrows the reader's buffer until the next call).
    pending: usize,
    /// What the headers read so far say (apart from `reader`, so a block
    /// borrowing the reader can be applied to it).
    state: State,
}

impl FileReader {
    /// Opens `path` and reads its headers up to the first packet, so that
    /// a file that is no capture, or a filter that does not compile for
    /// its link types, is an error before anything starts.
    pub fn open(path: &Path, filter: Option<&str>) -> Result<FileReader, ReplayError> {
        let file = std::fs::File::open(path).map_err(|e| ReplayError::File {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        FileReader::from_reader(path, file, filter)
    }

    /// As [`FileReader::open`], reading from `input`; `path` names it in
    /// messages.
    pub fn from_reader(
        path: &Path,
        input: impl std::io::Read + Send + 'static,
        filter: Option<&str>,
    ) -> Result<FileReader, ReplayError> {
        let file_err = |reason: String| ReplayError::File {
            path: path.display().to_string(),
            reason,
        };
        let reader = pcap_parser::create_reader(READ_BUFFER, input).map_err(|e| {
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
        // The filter's syntax first, for a file without packets too.
        let filters = Filters::new(filter)?;
        let mut r = FileReader {
            reader,
            pending: 0,
            state: State {
                path: path.to_path_buf(),
                interfaces: Vec::new(),
                big_endian: false,
                records: 0,
                filters,
            },
        };
        // Up to the first packet, which stays unread (an end or a cut is
        // met again by the first `next_packet`).
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
    pub fn position(&self) -> u64 {
        self.reader.consumed() as u64
    }

    /// The next packet that passes the filter, the end, or a cut.
    pub fn next_packet(&mut self) -> Result<Read<'_>, ReplayError> {
        let found = loop {
            let found = match self.block()? {
                Step::End => return Ok(Read::End),
                Step::Cut(why) => return Ok(Read::CutShort(why)),
                Step::Again => continue,
                Step::Packet(found) => found,
            };
            let Some(data) = found.bytes(self.reader.data()) else {
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
        let data = found.bytes(self.reader.data()).unwrap_or_default();
        Ok(Read::Packet(FilePacket {
            link_type: found.link_type,
            ts_secs: found.ts_secs,
            ts_nanos: found.ts_nanos,
            wire_len: found.wire_len,
            data,
        }))
    }

    /// Reads one block, after consuming the one handed out last.
    fn block(&mut self) -> Result<Step, ReplayError> {
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
    fn read_error(&mut self, e: ReadError, at: u64) -> Result<Step, ReplayError> {
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
