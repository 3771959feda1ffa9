//! Subjects on the bus: `dumplings.<kitchen>.<chef>`, and the one filter
//! subject that covers what a hub's eaters want.
//!
//! A kitchen or chef name is any string, but a NATS subject token cannot
//! hold `.` (the separator), `*` or `>` (wildcards), whitespace, or be
//! empty. Names are escaped so that every name has exactly one token and
//! two names never share one: bytes outside `[A-Za-z0-9_-]` become `%XX`
//! (upper-case hex of each UTF-8 byte), and the empty name is `%`
//! (never an escape's start otherwise, since `%` alone is not `%XX`).
//! Plain names (`DNSLookupChef`, `kitchen-1`) read as themselves.

use nd_protocol::subscription::Subscription;

/// The first token of every dumpling subject.
pub(crate) const PREFIX: &str = "dumplings";
/// The filter that takes every dumpling.
pub(crate) const ALL: &str = "dumplings.>";

/// One name as one subject token.
pub(crate) fn escape(name: &str) -> String {
    if name.is_empty() {
        return "%".to_string();
    }
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The subject a dumpling of `chef` from `kitchen` is published on.
pub(crate) fn dumpling(kitchen: &str, chef: &str) -> String {
    format!("{PREFIX}.{}.{}", escape(kitchen), escape(chef))
}

/// The single filter subject that covers every subscription in `subs`
/// (the consumer of NATS 2.9, which Debian ships, takes one filter):
/// `dumplings.K.C` where every eater names the one kitchen K (or chef C),
/// a wildcard where they do not agree. With no eaters, nothing is needed,
/// but the feed keeps running so the hub's own dumplings still come back
/// (and a new eater does not wait for a consumer): [`ALL`].
pub(crate) fn covering<'a>(subs: impl IntoIterator<Item = &'a Subscription>) -> String {
    // None: no eater seen yet; Some(None): any; Some(Some(n)): only n.
    let mut kitchen: Option<Option<String>> = None;
    let mut chef: Option<Option<String>> = None;
    let join = |acc: &mut Option<Option<String>>, names: &[String]| {
        let this = match names {
            [one] => Some(one.clone()),
            _ => None,
        };
        *acc = match acc.take() {
            None => Some(this),
            Some(prev) if prev == this => Some(prev),
            Some(_) => Some(None),
        };
    };
    for s in subs {
        join(&mut kitchen, &s.kitchens);
        join(&mut chef, &s.chefs);
    }
    let k = kitchen.flatten();
    let c = chef.flatten();
    match (k, c) {
        (None, None) => ALL.to_string(),
        (k, c) => format!(
            "{PREFIX}.{}.{}",
            k.as_deref().map_or("*".to_string(), escape),
            c.as_deref().map_or("*".to_string(), escape)
        ),
    }
}

/// Whether the published subject `subject` (no wildcards) matches `filter`.
pub(crate) fn matches(filter: &str, subject: &str) -> bool {
    let mut f = filter.split('.');
    let mut s = subject.split('.');
    loop {
        match (f.next(), s.next()) {
            (Some(">"), Some(_)) => return true,
            (Some("*"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(kitchens: &[&str], chefs: &[&str]) -> Subscription {
        Subscription {
            kitchens: kitchens.iter().map(|s| s.to_string()).collect(),
            chefs: chefs.iter().map(|s| s.to_string()).collect(),
            status: true,
        }
    }

    #[test]
    fn names_that_would_break_a_subject_are_one_token_each() {
        assert_eq!(escape("DNSLookupChef"), "DNSLookupChef");
        assert_eq!(escape("k-1_x"), "k-1_x");
        assert_eq!(escape("a.b"), "a%2Eb");
        assert_eq!(escape("*"), "%2A");
        assert_eq!(escape(">"), "%3E");
        assert_eq!(escape("my kitchen"), "my%20kitchen");
        assert_eq!(escape("%"), "%25");
        assert_eq!(escape(""), "%");
        assert_eq!(escape("é"), "%C3%A9");
        for name in ["a.b", "*", ">", " ", "", "x\ty", "%", "é.*"] {
            let t = escape(name);
            assert!(!t.is_empty(), "{name:?}");
            assert!(
                !t.contains(['.', '*', '>', ' ', '\t']),
                "{name:?} gave {t:?}"
            );
        }
        // Distinct names, distinct tokens (the escape is injective).
        assert_ne!(escape("%2E"), escape("."));
        assert_ne!(escape(""), escape("%"));
        assert_eq!(dumpling("k.1", "C"), "dumplings.k%2E1.C");
    }

    #[test]
    fn the_covering_filter_narrows_only_where_every_eater_agrees() {
        assert_eq!(covering([]), ALL);
        assert_eq!(covering([&sub(&[], &[])]), ALL);
        assert_eq!(covering([&sub(&[], &["DNS"])]), "dumplings.*.DNS");
        assert_eq!(covering([&sub(&["k.1"], &[])]), "dumplings.k%2E1.*");
        assert_eq!(
            covering([&sub(&["k"], &["DNS"]), &sub(&["k"], &["DNS"])]),
            "dumplings.k.DNS"
        );
        assert_eq!(
            covering([&sub(&["k"], &["DNS"]), &sub(&["k"], &["ARP"])]),
            "dumplings.k.*"
        );
        assert_eq!(covering([&sub(&[], &["DNS"]), &sub(&[], &[])]), ALL);
        assert_eq!(covering([&sub(&["a", "b"], &["DNS"])]), "dumplings.*.DNS");
    }

    #[test]
    fn filters_match_as_nats_does() {
        assert!(matches(ALL, "dumplings.k.c"));
        assert!(matches("dumplings.*.c", "dumplings.k.c"));
        assert!(!matches("dumplings.*.c", "dumplings.k.d"));
        assert!(matches("dumplings.k.*", "dumplings.k.d"));
        assert!(!matches("dumplings.k.*", "dumplings.kk.d"));
        assert!(matches("dumplings.k.c", "dumplings.k.c"));
        assert!(!matches("dumplings.k", "dumplings.k.c"));
    }
}
