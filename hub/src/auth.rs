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
//! # Revocation
//!
//! A connection keeps the digest of the token it presented (its
//! [`Credential`]), and checks it again after every reload: a kitchen or
//! eater whose token the new list no longer holds is closed with 4103
//! "token revoked" (and one that presented none, when a reload turns tokens
//! on). Removing a leaked token from the file and reloading is thus enough
//! to cut off whoever used it; everyone else stays connected.
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

    /// Whether `credential` holds one of the tokens.
    pub(crate) fn accepts(&self, credential: &Credential) -> bool {
        let mut ok = subtle::Choice::from(0u8);
        for accepted in &self.digests {
            ok |= accepted.ct_eq(&credential.digest);
        }
        credential.presented && bool::from(ok)
    }
}

/// What a peer presented on its upgrade request, kept (as a digest) for
/// as long as it stays connected, so a reload can check it again.
#[derive(Clone)]
pub(crate) struct Credential {
    /// SHA-256 of the token presented ("" if none: hashed anyway, so that
    /// case takes as long).
    digest: [u8; 32],
    /// Whether a token was presented at all.
    presented: bool,
}

impl Credential {
    pub(crate) fn new(presented: Option<&str>) -> Credential {
        Credential {
            digest: digest(presented.unwrap_or("")),
            presented: presented.is_some(),
        }
    }

    /// Whether a token was presented (for the refusal's log line).
    pub(crate) fn presented(&self) -> bool {
        self.presented
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
        let c = |t: Option<&str>| Credential::new(t);
        let t = Tokens::new(&["one".into(), "two".into()]);
        assert!(t.accepts(&c(Some("one"))));
        assert!(t.accepts(&c(Some("two"))));
        assert!(!t.accepts(&c(Some("three"))));
        assert!(!t.accepts(&c(Some(""))));
        assert!(!t.accepts(&c(None)));
        let empty = Tokens::new(&["".into()]);
        assert!(!empty.accepts(&c(None)), "no token never matches");
        assert!(!Tokens::new(&[]).accepts(&c(Some("one"))));
    }
}
