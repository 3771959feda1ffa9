//! The dumpling protocol, exactly as netdumplings 0.5.1 speaks it.
//!
//! Every component of the system (hub, kitchen, eaters) talks through the
//! types and functions here, so that wire compatibility with the Python
//! netdumplings peer is decided in one place.
//!
//! # Layout
//!
//! - [`Dumpling`] / [`Metadata`] / [`Driver`]: a dumpling as an eater sees it,
//!   with the payload kept as raw JSON text (never re-serialised).
//! - [`validate_dumpling`]: what the hub checks before fanning a message out
//!   (netdumplings' `validate_dumpling`: JSON with a `metadata.chef` key).
//! - [`encode_dumpling`]: what a kitchen sends: metadata wrapped around a
//!   payload that is already JSON text.
//! - [`KitchenHello`] / [`EaterHello`]: the first message on each port.
//! - [`CloseCode`]: netdumplings' application close codes.
//! - [`subscription`]: what an eater asks the hub for (chefs, kitchens,
//!   status, drivers), from its hello, its URL query or a later message.
//! - [`status`]: the `SystemStatusChef` payload the hub emits.
//!
//! # Wire summary
//!
//! ```text
//! kitchen -> hub (in port, 11347):  {"kitchen_name", "interface", "filter", "chefs", "poke_interval"}
//!                                   then one dumpling per text frame
//! eater   -> hub (out port, 11348): {"eater_name"} (+ optional "chefs", "kitchens", "status":
//!                                   a subscription; or ?chef=...&kitchen=... in the URL)
//!                                   later, optionally: {"subscribe": {...}}
//! hub     -> eater:                 one dumpling per text frame
//! dumpling: {"metadata": {"chef", "kitchen", "creation_time", "driver"}, "payload": <any JSON>}
//!           (nd-sniff adds "seq" to the metadata and "instance" to its hello: see
//!           [`encode_dumpling_with_seq`])
//! ```

#![forbid(unsafe_code)]

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

pub mod status;
pub mod subscription;
mod validate;

pub use validate::{assert_accepted_is_json, validate_dumpling, DumplingSummary, InvalidDumpling};

/// Default host the hub binds to and clients connect to.
pub const HUB_HOST: &str = "localhost";
/// Port on which the hub receives dumplings from kitchens.
pub const HUB_IN_PORT: u16 = 11347;
/// Port on which the hub sends dumplings to eaters.
pub const HUB_OUT_PORT: u16 = 11348;
/// Seconds between two `SystemStatusChef` dumplings.
pub const HUB_STATUS_FREQ_SECS: u64 = 5;
/// The chef name the hub uses for its own status dumplings.
pub const SYSTEM_STATUS_CHEF: &str = "SystemStatusChef";

/// What drove a chef to make a dumpling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Driver {
    /// A captured packet reached the chef's packet handler.
    Packet,
    /// The kitchen's periodic poke reached the chef's interval handler.
    Interval,
}

impl Driver {
    /// The name used on the wire (`"packet"` or `"interval"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Driver::Packet => "packet",
            Driver::Interval => "interval",
        }
    }
}

impl fmt::Display for Driver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A dumpling's metadata, as netdumplings' `Dumpling.to_json` writes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metadata {
    /// Name of the chef that made the payload (`SystemStatusChef` for the hub).
    pub chef: String,
    /// Name of the kitchen; `null` for dumplings the hub makes itself.
    pub kitchen: Option<String>,
    /// Seconds since the Unix epoch, as a float (Python's `time.time()`).
    pub creation_time: f64,
    /// Whether a packet or the interval poke produced this dumpling.
    pub driver: Driver,
    /// The kitchen's sequence number ([`encode_dumpling_with_seq`]);
    /// absent from netdumplings' kitchens and the hub's own dumplings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
}

/// A dumpling as an eater receives it.
///
/// The payload stays raw JSON text: eaters that only forward or print it never
/// pay for building a tree, and nothing is reformatted on the way.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Dumpling {
    /// Who made the dumpling, where, when and why.
    pub metadata: Metadata,
    /// The chef's payload, exactly as the kitchen sent it.
    pub payload: Box<RawValue>,
}

impl Dumpling {
    /// Parses a dumpling the way netdumplings' `Dumpling.from_json` does: the
    /// four metadata keys and `payload` must be present and `driver` must be
    /// `packet` or `interval`.
    pub fn from_json(text: &str) -> Result<Dumpling, InvalidDumpling> {
        serde_json::from_str(text).map_err(|e| InvalidDumpling::Malformed(e.to_string()))
    }

    /// The payload parsed into a JSON tree (for eaters that inspect it).
    pub fn payload_value(&self) -> serde_json::Value {
        // A RawValue is always valid JSON, so this cannot fail; fall back to
        // null rather than panic all the same.
        serde_json::from_str(self.payload.get()).unwrap_or(serde_json::Value::Null)
    }
}

/// Builds the JSON text of a dumpling around a payload that is already JSON.
///
/// `payload_json` must be valid JSON (kitchens check what chefs return before
/// calling this); it is embedded byte for byte.
pub fn encode_dumpling(
    chef: &str,
    kitchen: Option<&str>,
    creation_time: f64,
    driver: Driver,
    payload_json: &str,
) -> String {
    encode_dumpling_with_seq(chef, kitchen, creation_time, driver, None, payload_json)
}

/// [`encode_dumpling`] with the kitchen's sequence number as a fifth
/// metadata key, `"seq"` (what `nd-sniff` relays): with the kitchen's
/// `instance` from its hello, it names this dumpling for the whole run, so
/// a federated hub stores a re-sent dumpling once. netdumplings ignores the
/// key (its hub reads only `chef`; its eaters hand the metadata on as a dict).
pub fn encode_dumpling_with_seq(
    chef: &str,
    kitchen: Option<&str>,
    creation_time: f64,
    driver: Driver,
    seq: Option<u64>,
    payload_json: &str,
) -> String {
    let mut out = String::with_capacity(payload_json.len() + chef.len() + 128);
    out.push_str("{\"metadata\": {\"chef\": ");
    push_json_string(&mut out, chef);
    out.push_str(", \"kitchen\": ");
    match kitchen {
        Some(k) => push_json_string(&mut out, k),
        None => out.push_str("null"),
    }
    out.push_str(", \"creation_time\": ");
    push_json_f64(&mut out, creation_time);
    out.push_str(", \"driver\": \"");
    out.push_str(driver.as_str());
    out.push('"');
    if let Some(seq) = seq {
        out.push_str(", \"seq\": ");
        out.push_str(&seq.to_string());
    }
    out.push_str("}, \"payload\": ");
    out.push_str(payload_json);
    out.push('}');
    out
}

fn push_json_string(out: &mut String, s: &str) {
    // serde_json's string escaping; writing into a String cannot fail.
    out.push_str(&serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into()));
}

fn push_json_f64(out: &mut String, v: f64) {
    if v.is_finite() {
        // Shortest round-trip form, the same digits Python's repr() prints.
        let s = serde_json::to_string(&v).unwrap_or_else(|_| "0.0".into());
        out.push_str(&s);
    } else {
        out.push_str("0.0");
    }
}

/// Seconds since the Unix epoch as a float, like Python's `time.time()`.
pub fn now_epoch_secs() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// The first message a kitchen sends on the hub's in port.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KitchenHello {
    /// The kitchen's name (`--kitchen-name`), shown in status dumplings.
    pub kitchen_name: String,
    /// The interface it sniffs (`all`, `eth0`, or for replays the file name).
    pub interface: String,
    /// The BPF filter in use.
    pub filter: String,
    /// The chefs it runs (netdumplings lists `module.ClassName`).
    pub chefs: Vec<String>,
    /// Seconds between interval pokes.
    pub poke_interval: f64,
    /// This kitchen run's identity (random, fixed for the process's life,
    /// kept across reconnects and hub failovers). With each dumpling's
    /// `seq` it names the dumpling, so hubs on a bus store a re-sent one
    /// once. netdumplings' kitchens send none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
}

/// The first message an eater sends on the hub's out port: netdumplings'
/// `{"eater_name"}`, and optionally a subscription ([`subscription`]; a
/// netdumplings hub ignores the extra keys).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EaterHello {
    /// The eater's name, shown in status dumplings.
    pub eater_name: String,
    /// Only these chefs (absent: all).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub chefs: Vec<String>,
    /// Only these kitchens (absent: all).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kitchens: Vec<String>,
    /// Whether to get the hub's status dumplings (absent: yes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<bool>,
}

/// Why a hello message was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidHello {
    /// Not a JSON object.
    #[error("hello is not a JSON object: {0}")]
    NotObject(String),
    /// The object lacks the name key (`kitchen_name` or `eater_name`).
    #[error("hello has no string \"{0}\"")]
    NoName(&'static str),
}

/// A hello as the hub keeps it: the whole object (it is echoed verbatim in
/// status dumplings, so unknown keys survive) plus the name it announces.
#[derive(Debug, Clone, PartialEq)]
pub struct Hello {
    /// The name (`kitchen_name` or `eater_name`).
    pub name: String,
    /// The complete hello object as received.
    pub info: serde_json::Map<String, serde_json::Value>,
}

/// Parses a hello, requiring a string under `name_key`.
///
/// netdumplings' hub crashes its connection handler when the key is missing;
/// ours refuses the connection with a clear reason instead.
pub fn parse_hello(text: &str, name_key: &'static str) -> Result<Hello, InvalidHello> {
    let info: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(text).map_err(|e| InvalidHello::NotObject(e.to_string()))?;
    let name = match info.get(name_key) {
        Some(serde_json::Value::String(s)) => s.clone(),
        _ => return Err(InvalidHello::NoName(name_key)),
    };
    Ok(Hello { name, info })
}

/// Application-level WebSocket close codes: netdumplings' (41xx), and ours
/// in the same range where netdumplings has none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseCode {
    /// 4101: the client was interrupted (Ctrl-C) and is leaving.
    ConnectionCancelled,
    /// 4102: an eater got the number of dumplings it asked for.
    EaterFull,
    /// 4103 (ours; netdumplings has no authentication): the hub requires a
    /// token and the peer presented none, or a wrong one. Clients should not
    /// retry with the same token.
    Unauthorized,
}

impl CloseCode {
    /// The numeric close code.
    pub const fn code(self) -> u16 {
        match self {
            CloseCode::ConnectionCancelled => 4101,
            CloseCode::EaterFull => 4102,
            CloseCode::Unauthorized => 4103,
        }
    }

    /// The close reason netdumplings sends with the code.
    pub const fn reason(self) -> &'static str {
        match self {
            CloseCode::ConnectionCancelled => "connection cancelled",
            CloseCode::EaterFull => "dumpling eater is full",
            CloseCode::Unauthorized => "unauthorized: missing or invalid token",
        }
    }

    /// Maps a numeric code back, if it is one of netdumplings'.
    pub const fn from_code(code: u16) -> Option<CloseCode> {
        match code {
            4101 => Some(CloseCode::ConnectionCancelled),
            4102 => Some(CloseCode::EaterFull),
            4103 => Some(CloseCode::Unauthorized),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    /// Inputs for the hub_message fuzz target (`just fuzz hub_message`),
    /// replayed as it does: no panic; an accepted dumpling is JSON with
    /// `metadata.chef`.
    #[test]
    fn fuzz_regressions() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../fuzz/regressions/hub_message");
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).expect("fuzz/regressions/hub_message") {
            let data = std::fs::read(entry.unwrap().path()).unwrap();
            let Ok(text) = std::str::from_utf8(&data) else {
                continue;
            };
            if validate_dumpling(text).is_ok() {
                assert_accepted_is_json(text);
            }
            let _ = Dumpling::from_json(text);
            let _ = parse_hello(text, "kitchen_name");
            let _ = parse_hello(text, "eater_name");
            n += 1;
        }
        assert!(n >= 5, "only {n} regression inputs");
    }

    #[test]
    fn validate_accepts_python_shaped_dumpling() {
        let text = r#"{"metadata": {"chef": "ARPChef", "kitchen": "k", "creation_time": 1.5, "driver": "packet"}, "payload": {"a": [1, 2]}}"#;
        assert_eq!(validate_dumpling(text).unwrap().chef, "ARPChef");
    }

    #[test]
    fn validate_rejects_what_netdumplings_rejects() {
        assert!(matches!(
            validate_dumpling("not json"),
            Err(InvalidDumpling::NotJson(_))
        ));
        assert_eq!(validate_dumpling("[1,2]"), Err(InvalidDumpling::NoChef));
        assert_eq!(validate_dumpling("{}"), Err(InvalidDumpling::NoChef));
        assert_eq!(
            validate_dumpling(r#"{"metadata": "x"}"#),
            Err(InvalidDumpling::NoChef)
        );
        assert_eq!(
            validate_dumpling(r#"{"metadata": {"kitchen": "k"}}"#),
            Err(InvalidDumpling::NoChef)
        );
        assert_eq!(
            validate_dumpling(r#"{"metadata": ["chef"]}"#),
            Err(InvalidDumpling::NoChef)
        );
        // Valid metadata but a truncated payload is not JSON.
        assert!(matches!(
            validate_dumpling(r#"{"metadata": {"chef": "c"}, "payload": [1,"#),
            Err(InvalidDumpling::NotJson(_))
        ));
    }

    #[test]
    fn validate_takes_the_last_of_repeated_keys_like_python() {
        // json.loads keeps the last value of a repeated key.
        let s = validate_dumpling(r#"{"metadata": {}, "metadata": {"chef": "b"}}"#).unwrap();
        assert_eq!(s.chef, "b");
        assert_eq!(
            validate_dumpling(r#"{"metadata": {"chef": "a"}, "metadata": {}}"#),
            Err(InvalidDumpling::NoChef)
        );
        let s = validate_dumpling(r#"{"metadata": {"chef": "a", "chef": "c"}}"#).unwrap();
        assert_eq!(s.chef, "c");
        // Trailing garbage after the object is not JSON.
        assert!(matches!(
            validate_dumpling(r#"{"metadata": {"chef": "a"}} x"#),
            Err(InvalidDumpling::NotJson(_))
        ));
    }

    /// Keys and the chef name are compared and read where they lie in the
    /// text; escapes must still mean what they mean to `json.loads`.
    #[test]
    fn validate_decodes_escapes_in_keys_and_chef() {
        let s =
            validate_dumpling(r#"{"meta\u0064ata": {"c\u0068ef": "Pa\u0063ket\"Chef"}}"#).unwrap();
        assert_eq!(s.chef, "Packet\"Chef");
        assert!(matches!(s.chef, Cow::Owned(_)));
        let s = validate_dumpling(r#"{"metadata": {"chef": "PacketChef"}}"#).unwrap();
        assert!(matches!(s.chef, Cow::Borrowed("PacketChef")));
        // A key that only matches once decoded is not the one looked for
        // when it decodes to something else.
        assert_eq!(
            validate_dumpling(r#"{"metadata": {"chef\u0073": "x"}}"#),
            Err(InvalidDumpling::NoChef)
        );
    }

    #[test]
    fn validate_reads_an_integer_seq_and_ignores_anything_else_there() {
        let s = validate_dumpling(r#"{"metadata": {"seq": 7, "chef": "c"}}"#).unwrap();
        assert_eq!((s.chef.as_ref(), s.seq), ("c", Some(7)));
        for other in [r#""7""#, "-1", "7.5", "null", "[7]", "18446744073709551616"] {
            let text = format!(r#"{{"metadata": {{"chef": "c", "seq": {other}}}}}"#);
            assert_eq!(validate_dumpling(&text).unwrap().seq, None, "{other}");
        }
        let s = validate_dumpling(r#"{"metadata": {"chef": "c", "seq": 1, "seq": 2}}"#).unwrap();
        assert_eq!(s.seq, Some(2));
        assert_eq!(
            validate_dumpling(r#"{"metadata": {"seq": 1}}"#),
            Err(InvalidDumpling::NoChef)
        );
    }

    #[test]
    fn validate_accepts_non_string_chef_like_python() {
        let s = validate_dumpling(r#"{"metadata": {"chef": 42}}"#).unwrap();
        assert_eq!(s.chef, "42");
        let s = validate_dumpling(r#"{"metadata": {"chef": "a\"b"}}"#).unwrap();
        assert_eq!(s.chef, "a\"b");
    }

    #[test]
    fn encode_then_parse_round_trips_and_keeps_payload_bytes() {
        let payload = r#"{"packet_counts": {"IP": 3, "Ethernet": 3}}"#;
        let text = encode_dumpling(
            "PacketCountChef",
            Some("kit\"chen"),
            1499041214.205803,
            Driver::Interval,
            payload,
        );
        let d = Dumpling::from_json(&text).unwrap();
        assert_eq!(d.metadata.chef, "PacketCountChef");
        assert_eq!(d.metadata.kitchen.as_deref(), Some("kit\"chen"));
        assert_eq!(d.metadata.creation_time, 1499041214.205803);
        assert_eq!(d.metadata.driver, Driver::Interval);
        assert_eq!(d.payload.get(), payload);
        assert!(text.contains("1499041214.205803"));
    }

    #[test]
    fn a_relayed_dumpling_carries_its_seq_for_both_parsers() {
        let text = encode_dumpling_with_seq("C", Some("k"), 1.5, Driver::Packet, Some(42), "[1]");
        assert_eq!(Dumpling::from_json(&text).unwrap().metadata.seq, Some(42));
        assert_eq!(validate_dumpling(&text).unwrap().seq, Some(42));
        let plain = encode_dumpling("C", Some("k"), 1.5, Driver::Packet, "[1]");
        assert!(!plain.contains("seq"));
        assert_eq!(Dumpling::from_json(&plain).unwrap().metadata.seq, None);
    }

    #[test]
    fn from_json_rejects_unknown_driver_and_missing_keys() {
        let bad_driver = r#"{"metadata": {"chef": "c", "kitchen": null, "creation_time": 1, "driver": "x"}, "payload": null}"#;
        assert!(Dumpling::from_json(bad_driver).is_err());
        let no_payload = r#"{"metadata": {"chef": "c", "kitchen": null, "creation_time": 1, "driver": "packet"}}"#;
        assert!(Dumpling::from_json(no_payload).is_err());
    }

    #[test]
    fn hello_requires_its_name_key_and_keeps_extra_keys() {
        let h = parse_hello(
            r#"{"kitchen_name": "k1", "chefs": ["a"], "x": 1}"#,
            "kitchen_name",
        )
        .unwrap();
        assert_eq!(h.name, "k1");
        assert_eq!(h.info["x"], 1);
        assert_eq!(
            parse_hello(r#"{"eater_name": 3}"#, "eater_name"),
            Err(InvalidHello::NoName("eater_name"))
        );
        assert!(matches!(
            parse_hello("[]", "eater_name"),
            Err(InvalidHello::NotObject(_))
        ));
    }

    #[test]
    fn close_codes_match_netdumplings() {
        assert_eq!(CloseCode::ConnectionCancelled.code(), 4101);
        assert_eq!(
            CloseCode::ConnectionCancelled.reason(),
            "connection cancelled"
        );
        assert_eq!(CloseCode::EaterFull.code(), 4102);
        assert_eq!(CloseCode::EaterFull.reason(), "dumpling eater is full");
        assert_eq!(CloseCode::from_code(4102), Some(CloseCode::EaterFull));
        assert_eq!(CloseCode::from_code(1000), None);
    }
}
