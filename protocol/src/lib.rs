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
//! ```

#![forbid(unsafe_code)]

use std::borrow::Cow;
use std::fmt;

use serde::{de, Deserialize, Serialize};
use serde_json::value::RawValue;

pub mod status;
pub mod subscription;

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

/// Why a message is not a dumpling.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidDumpling {
    /// Not JSON at all (netdumplings: "Could not interpret dumpling JSON").
    #[error("could not interpret dumpling JSON: {0}")]
    NotJson(String),
    /// JSON, but without `metadata.chef` (netdumplings: "Could not determine chef name").
    #[error("could not determine chef name")]
    NoChef,
    /// JSON, but missing a key or with a bad value for a full [`Dumpling`].
    #[error("malformed dumpling: {0}")]
    Malformed(String),
}

/// What the hub learns from validating a dumpling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DumplingSummary<'a> {
    /// `metadata.chef`. netdumplings accepts any JSON value there; a
    /// non-string is kept as its JSON text so it can still be logged and counted.
    pub chef: Cow<'a, str>,
}

/// Validates a message received on the hub's in port, as netdumplings'
/// `validate_dumpling` does: it must be JSON, an object, with a `metadata`
/// object holding a `chef` key. Other keys are not checked (netdumplings'
/// hub does not check them either), and the message is forwarded unchanged.
pub fn validate_dumpling(text: &str) -> Result<DumplingSummary<'_>, InvalidDumpling> {
    // The hot path of the hub: one pass over the text with serde_json's
    // deserializer and one small visitor ([`Field`]), nothing built but the
    // chef name.
    // Skipped values (the payload, other metadata keys) are still parsed by
    // `IgnoredAny`, so a message the hub accepts is JSON all through: a
    // dumpling whose payload is cut short is rejected. Measured on a
    // DNSLookupChef-sized dumpling, this is 2x faster than deserialising a
    // `#[derive(Deserialize)]` envelope and re-parsing its `metadata`.
    //
    // Any error here is either bad JSON or JSON of the wrong shape (not an
    // object, `metadata` not an object, no `chef`): tell them apart only on
    // this cold path, as netdumplings' two error messages do.
    let not_json_or_no_chef = || match serde_json::from_str::<de::IgnoredAny>(text) {
        Ok(_) => InvalidDumpling::NoChef,
        Err(e) => InvalidDumpling::NotJson(e.to_string()),
    };
    let mut de = serde_json::Deserializer::from_str(text);
    let chef = de::DeserializeSeed::deserialize(METADATA_CHEF, &mut de)
        .and_then(|chef| de.end().map(|()| chef))
        .map_err(|_| not_json_or_no_chef())?;
    let chef = chef.flatten().ok_or(InvalidDumpling::NoChef)?;
    let mut name = serde_json::Deserializer::from_str(chef.get());
    let chef = match de::Deserializer::deserialize_str(&mut name, Text).and_then(|t| {
        name.end()?;
        Ok(t)
    }) {
        Ok(name) => name,
        // netdumplings accepts any JSON value as the chef; keep its text.
        Err(_) => Cow::Borrowed(chef.get()),
    };
    Ok(DumplingSummary { chef })
}

/// An object of which one key's value is read (with `seed`) and every other
/// value parsed and ignored; yields that value, if the key is present. A
/// repeated key counts once, the last one winning, as in Python's
/// `json.loads`. Anything but an object is a type error, which
/// [`validate_dumpling`] reports as "could not determine chef name".
#[derive(Clone, Copy)]
struct Field<S> {
    key: &'static str,
    seed: S,
}

/// `{"metadata": {"chef": <raw JSON>}}`, the path [`validate_dumpling`] reads.
const METADATA_CHEF: Field<Field<std::marker::PhantomData<&RawValue>>> = Field {
    key: "metadata",
    seed: Field {
        key: "chef",
        seed: std::marker::PhantomData,
    },
};

impl<'de, S: de::DeserializeSeed<'de> + Copy> de::DeserializeSeed<'de> for Field<S> {
    type Value = Option<S::Value>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, S: de::DeserializeSeed<'de> + Copy> de::Visitor<'de> for Field<S> {
    type Value = Option<S::Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "an object (looking for {:?})", self.key)
    }

    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(is_ours) = map.next_key_seed(KeyIs(self.key))? {
            if is_ours {
                found = Some(map.next_value_seed(self.seed)?);
            } else {
                map.next_value::<de::IgnoredAny>()?;
            }
        }
        Ok(found)
    }
}

/// Whether an object key is the one looked for, compared where it lies:
/// `Cow<str>`'s `Deserialize` would allocate a `String` for every key of
/// every dumpling (six per dumpling; malloc and free were ~10% of the hub).
#[derive(Clone, Copy)]
struct KeyIs(&'static str);

impl<'de> de::DeserializeSeed<'de> for KeyIs {
    type Value = bool;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> de::Visitor<'de> for KeyIs {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string key")
    }

    // serde_json hands over a key without escapes borrowed from the input,
    // one with escapes decoded into its scratch buffer: no allocation.
    fn visit_str<E: de::Error>(self, key: &str) -> Result<bool, E> {
        Ok(key == self.0)
    }
}

/// A JSON string, borrowed from the input unless it has escapes.
struct Text;

impl<'de> de::Visitor<'de> for Text {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(s))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(s.to_string()))
    }
}

/// The fuzzing invariant of [`validate_dumpling`], shared by the fuzz target
/// and the regression test: text the hub accepts parses as JSON with
/// `metadata.chef`, as Python's `json.loads` would find it.
///
/// Two deliberate gaps, both found by this fuzz target: a lone UTF-16
/// surrogate escape (`"\ud800"`) and a number beyond f64 (`1e999999`).
/// Python (so netdumplings' hub) accepts both (a lone surrogate, `inf`),
/// serde_json's `Value` refuses them; the hub forwards such a dumpling as
/// netdumplings does, and our eaters report it as invalid and go on.
#[doc(hidden)]
pub fn assert_accepted_is_json(text: &str) {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(v) => assert!(
            v["metadata"].get("chef").is_some(),
            "accepted without metadata.chef: {text}"
        ),
        Err(e) => assert!(
            e.to_string().contains("hex escape") || e.to_string().contains("number out of range"),
            "accepted text is not JSON ({e}): {text}"
        ),
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
    out.push_str("\"}, \"payload\": ");
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
