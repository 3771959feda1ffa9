//! BPF filters on replayed packets: compiled by libpcap once per link type
//! the file uses (`pcap_open_dead`), run per packet (`pcap_offline_filter`).

use std::path::Path;

use crate::ReplayError;

/// libpcap's complaint about a filter that can match nothing on a link
/// type (`pcap_compile`'s "expression rejects all packets").
const REJECTS_ALL: &str = "rejects all packets";

/// The filter for one link type.
pub(crate) enum Filter<'a> {
    /// No filter: every packet passes.
    None,
    /// Packets pass that the program matches.
    Matches(&'a pcap::BpfProgram),
    /// No packet of this link type can match.
    RejectsAll,
}

/// A compiled BPF filter for one link type.
struct Program {
    link_type: u16,
    /// `None`: libpcap found that the filter can match no packet of this
    /// link type (`arp` on raw IP); in a file of several link types that
    /// is no error, the others' packets may match.
    program: Option<pcap::BpfProgram>,
}

/// The filter, compiled for each link type met so far.
pub(crate) struct Filters {
    /// The BPF filter, if any.
    filter: Option<String>,
    programs: Vec<Program>,
}

impl Filters {
    /// `filter`, its syntax checked (compiled for Ethernet).
    pub(crate) fn new(filter: Option<&str>) -> Result<Filters, ReplayError> {
        if let Some(f) = filter {
            match compile(f, 1) {
                Err(ReplayError::BadFilter { reason, .. }) if reason.contains(REJECTS_ALL) => {}
                Err(e) => return Err(e),
                Ok(_) => {}
            }
        }
        Ok(Filters {
            filter: filter.map(str::to_string),
            programs: Vec::new(),
        })
    }

    /// The filter for packets of `link_type` of `path` (compiled the
    /// first time).
    pub(crate) fn get(&mut self, link_type: u16, path: &Path) -> Result<Filter<'_>, ReplayError> {
        let Some(filter) = &self.filter else {
            return Ok(Filter::None);
        };
        let i = match self.programs.iter().position(|p| p.link_type == link_type) {
            Some(i) => i,
            None => {
                let program = match compile(filter, link_type) {
                    Ok(p) => Some(p),
                    Err(ReplayError::BadFilter { reason, .. }) if reason.contains(REJECTS_ALL) => {
                        tracing::warn!(
                            "the filter {filter:?} matches no packet of link type {link_type}: {}'s packets of that link type are skipped",
                            path.display()
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
fn compile(filter: &str, link_type: u16) -> Result<pcap::BpfProgram, ReplayError> {
    let bad = |reason: String| ReplayError::BadFilter {
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
