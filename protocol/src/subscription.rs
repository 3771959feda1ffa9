//! What an eater asks the hub for: which chefs, which kitchens, and
//! whether the hub's status dumplings. The hub applies it before
//! queueing, so a dumpling an eater did not ask for costs it nothing.
//!
//! An eater states it in one of three places:
//!
//! - its hello: `{"eater_name": "e", "chefs": ["DNSLookupChef"],
//!   "kitchens": ["k1"], "status": false}`;
//! - its URL query, for clients that cannot change their hello (the Python
//!   netdumplings eaters): `ws://hub:11348/?chef=DNSLookupChef&chef=ARPChef&kitchen=k1&status=0`;
//! - later, a message `{"subscribe": {"chefs": [...], ...}}`, which
//!   replaces the subscription at once.
//!
//! An absent or empty list means "all". Status dumplings are sent unless
//! `status` is false. Unknown keys are ignored (a hello carries other keys,
//! and later versions may add some); a key that is present with the wrong
//! type is an error, so a typo in a list is not silently "everything".

use serde_json::{Map, Value};

/// Most names in one list: a subscription is matched per dumpling, and a
/// list this long is a mistake, not a use.
pub const MAX_NAMES: usize = 256;

/// Which dumplings an eater wants.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Subscription {
    /// Only these chefs (`metadata.chef`); empty: every chef.
    pub chefs: Vec<String>,
    /// Only dumplings from kitchens of these names; empty: every kitchen.
    pub kitchens: Vec<String>,
    /// Whether the hub's own status dumplings (SystemStatusChef) are sent.
    pub status: bool,
}

impl Subscription {
    /// Everything, status dumplings included: what an eater that says
    /// nothing gets (as in netdumplings).
    pub fn all() -> Subscription {
        Subscription {
            status: true,
            ..Subscription::default()
        }
    }

    /// Whether it takes every dumpling (the hub can skip matching).
    pub fn is_all(&self) -> bool {
        self.status && self.chefs.is_empty() && self.kitchens.is_empty()
    }

    /// Whether a kitchen dumpling of `chef` from `kitchen` (`None`: not
    /// known, which passes the kitchen filter) is wanted.
    pub fn wants(&self, chef: &str, kitchen: Option<&str>) -> bool {
        (self.chefs.is_empty() || self.chefs.iter().any(|c| c == chef))
            && (self.kitchens.is_empty()
                || kitchen.is_none_or(|kitchen| self.kitchens.iter().any(|k| k == kitchen)))
    }

    /// The subscription in a hello (or a `subscribe` message's object):
    /// the keys `chefs`, `kitchens`, `status`; others ignored.
    pub fn from_object(object: &Map<String, Value>) -> Result<Subscription, InvalidSubscription> {
        let mut s = Subscription::all();
        if let Some(v) = object.get("chefs") {
            s.chefs = names("chefs", v)?;
        }
        if let Some(v) = object.get("kitchens") {
            s.kitchens = names("kitchens", v)?;
        }
        match object.get("status") {
            None | Some(Value::Null) => {}
            Some(Value::Bool(b)) => s.status = *b,
            Some(_) => return Err(InvalidSubscription::NotABool("status")),
        }
        Ok(s)
    }

    /// The subscription in a URL query (`chef=`, `kitchen=`, each
    /// repeatable, and `status=`; others, such as `token=`, ignored);
    /// `None` if the query names none of them.
    pub fn from_query(query: &str) -> Result<Option<Subscription>, InvalidSubscription> {
        let mut s = Subscription::all();
        let mut any = false;
        for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
            let list = match key.as_ref() {
                "chef" => &mut s.chefs,
                "kitchen" => &mut s.kitchens,
                "status" => {
                    s.status = match value.as_ref() {
                        "1" | "true" | "yes" => true,
                        "0" | "false" | "no" => false,
                        _ => return Err(InvalidSubscription::NotABool("status")),
                    };
                    any = true;
                    continue;
                }
                _ => continue,
            };
            if list.len() >= MAX_NAMES {
                return Err(InvalidSubscription::TooMany(if key == "chef" {
                    "chefs"
                } else {
                    "kitchens"
                }));
            }
            list.push(value.into_owned());
            any = true;
        }
        Ok(any.then_some(s))
    }
}

/// Longest history an eater may ask for (`since`): a day. The stream's
/// retention (`nats_max_age`) usually holds less; asking for more than it
/// holds gets what it holds.
pub const MAX_SINCE_SECS: f64 = 86_400.0;

/// Recent history an eater asks for, served by a hub on a bus (`--nats`)
/// from the stream before the live feed, with no gap and no repeat between
/// the two: `"since": SECONDS` / `?since=SECONDS` (every dumpling of the
/// last SECONDS), or `"last": true` / `?last=1` (the last dumpling of each
/// kitchen's chefs).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum History {
    /// Every dumpling of the last this many seconds.
    Since(f64),
    /// The last dumpling of each (kitchen, chef).
    LastPerChef,
}

impl History {
    /// The history asked for in a hello (`since`, `last`), else in the URL
    /// query; `None`: live only (what netdumplings' eaters get).
    pub fn of(
        object: &Map<String, Value>,
        query: Option<&str>,
    ) -> Result<Option<History>, InvalidSubscription> {
        let mut since = None;
        let mut last = false;
        if object.contains_key("since") || object.contains_key("last") {
            match object.get("since") {
                None | Some(Value::Null) => {}
                Some(Value::Number(n)) => since = n.as_f64(),
                Some(_) => return Err(InvalidSubscription::NotSeconds),
            }
            match object.get("last") {
                None | Some(Value::Null) => {}
                Some(Value::Bool(b)) => last = *b,
                Some(_) => return Err(InvalidSubscription::NotABool("last")),
            }
        } else if let Some(query) = query {
            for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
                match key.as_ref() {
                    "since" => {
                        since = Some(
                            value
                                .parse::<f64>()
                                .map_err(|_| InvalidSubscription::NotSeconds)?,
                        )
                    }
                    "last" => {
                        last = match value.as_ref() {
                            "1" | "true" | "yes" => true,
                            "0" | "false" | "no" => false,
                            _ => return Err(InvalidSubscription::NotABool("last")),
                        }
                    }
                    _ => {}
                }
            }
        }
        match (since, last) {
            (Some(_), true) => Err(InvalidSubscription::SinceAndLast),
            (Some(s), false) if s.is_finite() && s > 0.0 && s <= MAX_SINCE_SECS => {
                Ok(Some(History::Since(s)))
            }
            (Some(_), false) => Err(InvalidSubscription::NotSeconds),
            (None, true) => Ok(Some(History::LastPerChef)),
            (None, false) => Ok(None),
        }
    }
}

/// Why a subscription was refused (the eater is closed with 1008 and this).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidSubscription {
    /// A list key holds something else than a list of strings.
    #[error("\"{0}\" must be a list of strings")]
    NotAList(&'static str),
    /// `status` is not a boolean.
    #[error("\"{0}\" must be true or false")]
    NotABool(&'static str),
    /// A list longer than [`MAX_NAMES`].
    #[error("\"{0}\" lists more than {MAX_NAMES} names")]
    TooMany(&'static str),
    /// `since` is not a number of seconds in (0, [`MAX_SINCE_SECS`]].
    #[error("\"since\" must be a number of seconds greater than 0 and at most {MAX_SINCE_SECS}")]
    NotSeconds,
    /// Both `since` and `last`.
    #[error("ask for \"since\" or \"last\", not both")]
    SinceAndLast,
    /// History without a bus to serve it from.
    #[error("history (\"since\", \"last\") needs a hub on a bus (nd-hub --nats)")]
    NoBus,
    /// A `subscribe` message that is not `{"subscribe": {...}}`.
    #[error("a subscribe message is {{\"subscribe\": {{...}}}}")]
    NotAnObject,
}

fn names(key: &'static str, v: &Value) -> Result<Vec<String>, InvalidSubscription> {
    let Value::Array(items) = v else {
        return Err(InvalidSubscription::NotAList(key));
    };
    if items.len() > MAX_NAMES {
        return Err(InvalidSubscription::TooMany(key));
    }
    items
        .iter()
        .map(|i| match i {
            Value::String(s) => Ok(s.clone()),
            _ => Err(InvalidSubscription::NotAList(key)),
        })
        .collect()
}

/// A message an eater sends after its hello: `{"subscribe": {...}}` gives
/// a new subscription. Any other JSON object is ignored (`Ok(None)`, as
/// netdumplings' hub ignores what eaters send).
pub fn parse_subscribe(text: &str) -> Result<Option<Subscription>, InvalidSubscription> {
    let Ok(Value::Object(message)) = serde_json::from_str::<Value>(text) else {
        return Ok(None);
    };
    match message.get("subscribe") {
        None => Ok(None),
        Some(Value::Object(o)) => Subscription::from_object(o).map(Some),
        Some(_) => Err(InvalidSubscription::NotAnObject),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(text: &str) -> Map<String, Value> {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn a_hello_without_keys_takes_everything() {
        let s = Subscription::from_object(&object(r#"{"eater_name": "e"}"#)).unwrap();
        assert_eq!(s, Subscription::all());
        assert!(s.is_all());
        assert!(s.wants("AnyChef", Some("any")));
    }

    #[test]
    fn a_hello_narrows_by_chef_kitchen_driver_and_status() {
        let s = Subscription::from_object(&object(
            r#"{"eater_name": "e", "chefs": ["DNSLookupChef", "ARPChef"], "kitchens": ["k1"],
                "status": false, "colour": "blue"}"#,
        ))
        .unwrap();
        assert!(!s.is_all() && !s.status);
        assert!(s.wants("ARPChef", Some("k1")));
        assert!(!s.wants("ARPChef", Some("k2")), "other kitchen");
        assert!(!s.wants("PacketCountChef", Some("k1")), "other chef");
        assert!(s.wants("ARPChef", None), "unknown kitchen: kept");
        // Empty lists are "all", like absent ones; null status is the default.
        let s = Subscription::from_object(&object(r#"{"chefs": [], "status": null}"#)).unwrap();
        assert!(s.is_all());
    }

    #[test]
    fn wrong_types_are_refused_with_the_key_named() {
        let bad = |t: &str| {
            Subscription::from_object(&object(t))
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            bad(r#"{"chefs": "DNSLookupChef"}"#),
            "\"chefs\" must be a list of strings"
        );
        assert_eq!(
            bad(r#"{"kitchens": [1]}"#),
            "\"kitchens\" must be a list of strings"
        );
        assert_eq!(
            bad(r#"{"status": "no"}"#),
            "\"status\" must be true or false"
        );
        let many = format!("{{\"chefs\": {:?}}}", vec!["c"; MAX_NAMES + 1]);
        assert!(bad(&many).contains("more than"));
    }

    #[test]
    fn a_query_is_a_subscription_only_if_it_names_one() {
        assert_eq!(Subscription::from_query("token=abc").unwrap(), None);
        assert_eq!(Subscription::from_query("").unwrap(), None);
        let s = Subscription::from_query(
            "chef=DNSLookupChef&token=x&chef=ARP%20Chef&kitchen=k1&status=0",
        )
        .unwrap()
        .unwrap();
        assert_eq!(s.chefs, ["DNSLookupChef", "ARP Chef"]);
        assert_eq!(s.kitchens, ["k1"]);
        assert!(!s.status);
        assert!(Subscription::from_query("status=maybe").is_err());
    }

    #[test]
    fn subscribe_messages_replace_and_other_messages_are_ignored() {
        let s = parse_subscribe(r#"{"subscribe": {"chefs": ["X"]}}"#)
            .unwrap()
            .unwrap();
        assert_eq!(s.chefs, ["X"]);
        assert!(s.status);
        assert_eq!(parse_subscribe(r#"{"hello": 1}"#).unwrap(), None);
        assert_eq!(parse_subscribe("not json").unwrap(), None);
        assert_eq!(
            parse_subscribe(r#"{"subscribe": []}"#),
            Err(InvalidSubscription::NotAnObject)
        );
    }
}

#[cfg(test)]
mod history_tests {
    use super::*;

    fn of(hello: &str, query: Option<&str>) -> Result<Option<History>, InvalidSubscription> {
        let v: Value = serde_json::from_str(hello).unwrap();
        History::of(v.as_object().unwrap(), query)
    }

    #[test]
    fn history_from_the_hello_or_the_url() {
        assert_eq!(of(r#"{"eater_name":"e"}"#, None), Ok(None));
        assert_eq!(
            of(r#"{"since":300}"#, None),
            Ok(Some(History::Since(300.0)))
        );
        assert_eq!(of(r#"{"since":0.5}"#, None), Ok(Some(History::Since(0.5))));
        assert_eq!(of(r#"{"last":true}"#, None), Ok(Some(History::LastPerChef)));
        assert_eq!(of(r#"{"last":false}"#, None), Ok(None));
        assert_eq!(
            of("{}", Some("since=60&chef=A")),
            Ok(Some(History::Since(60.0)))
        );
        assert_eq!(of("{}", Some("last=1")), Ok(Some(History::LastPerChef)));
        // The hello wins over the URL, as for subscriptions.
        assert_eq!(
            of(r#"{"since":5}"#, Some("last=1")),
            Ok(Some(History::Since(5.0)))
        );
        for bad in [
            r#"{"since":0}"#,
            r#"{"since":-1}"#,
            r#"{"since":"5"}"#,
            r#"{"since":1e9}"#,
        ] {
            assert_eq!(of(bad, None), Err(InvalidSubscription::NotSeconds), "{bad}");
        }
        assert_eq!(
            of("{}", Some("since=soon")),
            Err(InvalidSubscription::NotSeconds)
        );
        assert_eq!(
            of(r#"{"last":1}"#, None),
            Err(InvalidSubscription::NotABool("last"))
        );
        assert_eq!(
            of(r#"{"since":5,"last":true}"#, None),
            Err(InvalidSubscription::SinceAndLast)
        );
    }
}
