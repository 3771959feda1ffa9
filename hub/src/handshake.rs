//! A new connection's first steps: the WebSocket upgrade, the token check,
//! the hello, all within `hello_timeout`; and closing with a reason.

use std::net::SocketAddr;
use std::time::Duration;

use crate::auth;
use crate::config::Config;
use crate::metrics::Refusal;
use crate::state::{Live, Role, State};

use futures_util::StreamExt;
use nd_protocol::subscription::{History, InvalidSubscription, Subscription};
use nd_protocol::Hello;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode as WsCloseCode;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;
use tracing::{debug, warn};

/// A connected, authenticated peer, as its task keeps it.
pub(crate) struct Peer {
    /// Where it connected from.
    pub(crate) addr: SocketAddr,
    /// The token it presented, checked again after every reload.
    pub(crate) credential: auth::Credential,
    /// Tells the task a reload happened (see [`State::reloads`]).
    pub(crate) reloads: watch::Receiver<()>,
    /// What an eater asked for (its hello, else its URL query; everything
    /// if neither says). Kitchens: everything, unused.
    pub(crate) subscription: Subscription,
    /// The history an eater asked for (only with a bus). Kitchens: none.
    pub(crate) history: Option<History>,
}

/// What a finished handshake gives the connection's task.
pub(crate) struct Accepted<S> {
    pub(crate) ws: WebSocketStream<S>,
    pub(crate) hello: Hello,
    pub(crate) credential: auth::Credential,
    pub(crate) subscription: Subscription,
    pub(crate) history: Option<History>,
}

/// WebSocket limits for a new connection.
fn ws_config(config: &Config) -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(config.max_message_size))
        .max_frame_size(Some(config.max_message_size))
}

/// Completes the WebSocket handshake, checks the token (against the
/// configuration as it is now, not as it was at accept time), reads the
/// hello, all before `deadline`.
pub(crate) async fn handshake<S>(
    state: &State,
    live: &Live,
    stream: S,
    peer: SocketAddr,
    role: Role,
    deadline: tokio::time::Instant,
) -> Option<Accepted<S>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let eater = role == Role::Eater;
    let mut presented: Option<String> = None;
    let mut query: Option<String> = None;
    // tungstenite's callback type; it never errs here (the token is checked
    // after the upgrade, so the refusal can carry a close reason).
    #[allow(clippy::result_large_err)]
    let callback = |req: &Request, resp: Response| {
        presented = auth::presented_token(req);
        query = req.uri().query().map(str::to_string);
        Ok(resp)
    };
    let mut ws = match tokio::time::timeout_at(
        deadline,
        tokio_tungstenite::accept_hdr_async_with_config(
            stream,
            callback,
            Some(ws_config(&live.config)),
        ),
    )
    .await
    {
        Ok(Ok(ws)) => ws,
        Ok(Err(e)) => {
            state.counters.refused(eater, Refusal::Handshake);
            debug!("{peer}: WebSocket handshake failed: {e}");
            return None;
        }
        Err(_) => {
            state.counters.refused(eater, Refusal::Handshake);
            debug!("{peer}: no WebSocket handshake in time");
            return None;
        }
    };
    let credential = auth::Credential::new(presented.as_deref());
    if !state.live().admits(role, &credential) {
        state.counters.refused(eater, Refusal::Unauthorized);
        let why = if credential.presented() {
            "wrong token"
        } else {
            "no token"
        };
        warn!("{peer}: {} refused: {why}", role.name());
        let code = nd_protocol::CloseCode::Unauthorized;
        close(&mut ws, WsCloseCode::from(code.code()), code.reason()).await;
        return None;
    }
    let first = tokio::time::timeout_at(deadline, async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(t))) => return Ok(t.as_str().to_owned()),
                Some(Ok(Message::Binary(b))) => {
                    return String::from_utf8(b.to_vec())
                        .map_err(|_| "hello is binary, not UTF-8 JSON".to_string())
                }
                Some(Ok(Message::Close(_))) | None => return Err(String::new()),
                Some(Ok(_)) => continue, // ping/pong before hello
                Some(Err(e)) => return Err(format!("read error before hello: {e}")),
            }
        }
    })
    .await;
    let text = match first {
        Ok(Ok(t)) => t,
        Ok(Err(reason)) => {
            state.counters.refused(eater, Refusal::BadHello);
            if !reason.is_empty() {
                warn!("{peer}: {reason}");
                close(&mut ws, WsCloseCode::Policy, &reason).await;
            }
            return None;
        }
        Err(_) => {
            state.counters.refused(eater, Refusal::NoHello);
            warn!(
                "{peer}: no hello within {:?}; closing",
                live.config.hello_timeout
            );
            close(&mut ws, WsCloseCode::Policy, "no hello received in time").await;
            return None;
        }
    };
    let name_key = match role {
        Role::Kitchen => "kitchen_name",
        Role::Eater => "eater_name",
    };
    let hello = match nd_protocol::parse_hello(&text, name_key) {
        Ok(hello) => hello,
        Err(e) => {
            state.counters.refused(eater, Refusal::BadHello);
            warn!("{peer}: invalid hello: {e}");
            close(&mut ws, WsCloseCode::Policy, &format!("invalid hello: {e}")).await;
            return None;
        }
    };
    let wishes = if eater {
        subscription_of(&hello, query.as_deref()).and_then(|s| {
            let history = History::of(&hello.info, query.as_deref())?;
            if history.is_some() && state.bus.get().is_none() {
                return Err(InvalidSubscription::NoBus);
            }
            Ok((s, history))
        })
    } else {
        Ok((Subscription::all(), None))
    };
    let (subscription, history) = {
        match wishes {
            Ok(w) => w,
            Err(e) => {
                state.counters.refused(eater, Refusal::BadHello);
                warn!("{peer}: invalid subscription: {e}");
                let why = format!("invalid subscription: {e}");
                close(&mut ws, WsCloseCode::Policy, &why).await;
                return None;
            }
        }
    };
    Some(Accepted {
        ws,
        hello,
        credential,
        subscription,
        history,
    })
}

/// An eater's subscription: its hello's, if the hello names one (any of
/// `chefs`, `kitchens`, `status`), else its URL query's (`?chef=...`), else
/// everything.
fn subscription_of(
    hello: &Hello,
    query: Option<&str>,
) -> Result<Subscription, InvalidSubscription> {
    if ["chefs", "kitchens", "status"]
        .iter()
        .any(|k| hello.info.contains_key(*k))
    {
        return Subscription::from_object(&hello.info);
    }
    Ok(query
        .map(Subscription::from_query)
        .transpose()?
        .flatten()
        .unwrap_or_else(Subscription::all))
}

/// How long we wait for a peer to answer our close frame (at shutdown,
/// on a revoked token, on a protocol error).
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// Sends a close frame and waits up to [`SHUTDOWN_GRACE`] for the peer's answer.
pub(crate) async fn close<S>(ws: &mut WebSocketStream<S>, code: WsCloseCode, reason: &str)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    nd_client::session::close_gracefully(ws, code.into(), reason, SHUTDOWN_GRACE).await;
}
