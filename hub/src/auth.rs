//! Kitchen and eater tokens.
//!
//! netdumplings lets anyone connect as a kitchen and inject dumplings. With
//! tokens configured, a peer must present one on its WebSocket upgrade
//! request, in a way that leaves netdumplings' hello untouched:
//!
//! - `Authorization: Bearer TOKEN` (what our `nd-sniff` and eaters send), or
//! - `?token=TOKEN` in the request URL (what a Python netdumplings client
//!   can send: `--hub 'host:11347/?token=TOKEN'`).
//!
//! A peer without a valid token gets the WebSocket, then at once a close
//! frame with [`nd_protocol::CloseCode::Unauthorized`] (4103) and a reason,
//! before anything it sends is read; the hub logs the refusal.
//!
//! # Constant time
//!
//! The presented token and every configured token are hashed with SHA-256
//! and the digests compared with `subtle`'s constant-time equality, against
//! every configured token without stopping at a match. The time taken thus
//! depends on neither the tokens' contents nor their lengths, only on how
//! many tokens are configured.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio_tungstenite::tungstenite::handshake::server::Request;

/// The accepted tokens of one role (kitchens or eaters), as digests.
pub(crate) struct Tokens {
    /// SHA-256 of each accepted token. Plain tokens are not kept.
    digests: Vec<[u8; 32]>,
}

impl Tokens {
    pub(crate) fn new(tokens: &[String]) -> Tokens {
        Tokens {
            digests: tokens.iter().map(|t| digest(t)).collect(),
        }
    }

    /// Whether `presented` is one of the tokens.
    pub(crate) fn accepts(&self, presented: Option<&str>) -> bool {
        // Hash even when nothing was presented, so that case takes as long.
        let d = digest(presented.unwrap_or(""));
        let mut ok = subtle::Choice::from(0u8);
        for accepted in &self.digests {
            ok |= accepted.ct_eq(&d);
        }
        presented.is_some() && bool::from(ok)
    }
}

fn digest(s: &str) -> [u8; 32] {
    Sha256::digest(s.as_bytes()).into()
}

/// The token an upgrade request carries: the bearer token of its
/// `Authorization` header, else its `token` query parameter.
pub(crate) fn presented_token(req: &Request) -> Option<String> {
    if let Some(v) = req.headers().get("authorization") {
        if let Ok(v) = v.to_str() {
            let mut parts = v.trim().splitn(2, ' ');
            if let (Some(scheme), Some(token)) = (parts.next(), parts.next()) {
                if scheme.eq_ignore_ascii_case("bearer") {
                    return Some(token.trim().to_string());
                }
            }
        }
    }
    let query = req.uri().query()?;
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(uri: &str, auth: Option<&str>) -> Request {
        let mut b = Request::builder().uri(uri);
        if let Some(a) = auth {
            b = b.header("Authorization", a);
        }
        b.body(()).unwrap()
    }

    #[test]
    fn bearer_header_or_query() {
        assert_eq!(
            presented_token(&req("/", Some("Bearer abc"))).as_deref(),
            Some("abc")
        );
        assert_eq!(
            presented_token(&req("/", Some("bearer  abc "))).as_deref(),
            Some("abc")
        );
        assert_eq!(
            presented_token(&req("/?x=1&token=a%2Fb", None)).as_deref(),
            Some("a/b")
        );
        assert_eq!(presented_token(&req("/", Some("Basic abc"))), None);
        assert_eq!(presented_token(&req("/", None)), None);
    }

    #[test]
    fn accepts_only_configured_tokens() {
        let t = Tokens::new(&["one".into(), "two".into()]);
        assert!(t.accepts(Some("one")));
        assert!(t.accepts(Some("two")));
        assert!(!t.accepts(Some("three")));
        assert!(!t.accepts(Some("")));
        assert!(!t.accepts(None));
        let empty = Tokens::new(&["".into()]);
        assert!(!empty.accepts(None), "no token never matches");
        assert!(!Tokens::new(&[]).accepts(Some("one")));
    }
}
