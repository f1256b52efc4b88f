//! The connections to etcd's members, through its JSON gateway: `POST
//! /v3/<service>/<method>` with the request as JSON, over HTTP/1.1 with hyper. Calls reuse
//! one kept-alive connection (a call that finds it busy opens another; a request that
//! fails on a kept connection, which etcd may have closed, is sent once more on a new
//! one); a watch's long answer has a connection of its own. Connections go to the member
//! last reached and move to the next when it cannot be reached; over TLS when the URL
//! says `etcd3+https`; with the token of etcd's authentication when it names a user; with
//! TCP keep-alive probes, so that a connection whose peer vanished is closed. Answers are
//! bounded, and decoded into the types of `wire`.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpStream;

use super::backend::{Backend, Member};
use super::wire;
use crate::error::error_chain;

/// How long one call may take, connection included.
pub(super) const CALL_TIMEOUT: Duration = Duration::from_secs(3);

/// Why a call to etcd failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EtcdError {
    /// etcd could not be reached, or did not answer in time.
    #[error("cannot reach etcd at {address}: {reason}")]
    Unreachable {
        /// `host:port`.
        address: String,
        /// What went wrong.
        reason: String,
    },
    /// etcd refused the user and password of `backend_url`.
    #[error("etcd refused to authenticate user {user}: {message}")]
    Authentication {
        /// The user.
        user: String,
        /// etcd's message.
        message: String,
    },
    /// etcd answered with an error.
    #[error("etcd refused {method}: {message}")]
    Refused {
        /// The call, such as `kv/txn`.
        method: String,
        /// etcd's message.
        message: String,
    },
    /// etcd answered with what this client does not expect of it (see
    /// `coordination::wire`): read as a default, it could have been taken for a claim
    /// lost or a lease gone.
    #[error("unexpected answer from etcd to {method}: {reason}")]
    Unexpected {
        /// The call, such as `kv/txn`.
        method: String,
        /// What was unexpected.
        reason: String,
    },
}

/// The sending half of an HTTP/1.1 connection to etcd.
type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

/// A connection's stream: plain TCP, or TLS over it.
trait Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin {}
impl<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin> Stream for S {}

/// The largest answer read from etcd: a range of every member of a large group fits
/// many times over; a larger one is refused rather than held.
pub(super) const MAX_ANSWER: usize = 16 << 20;

/// How long connecting to one member may take before the next is tried.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// TCP keep-alive on every connection to etcd: probes after this long without
/// traffic, [`KEEPALIVE_INTERVAL`] apart, and the connection closed after
/// [`KEEPALIVE_PROBES`] unanswered (25 s in all). A watch's connection idles as long as
/// nothing changes: the probes also keep a firewall from forgetting it.
const KEEPALIVE_IDLE: Duration = Duration::from_secs(10);
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(5);
const KEEPALIVE_PROBES: u32 = 3;

/// The members of one cluster, and the connection, member and token calls use.
pub(super) struct Transport {
    backend: Backend,
    /// The member calls go to: the last one reached.
    current: std::sync::atomic::AtomicUsize,
    /// A connection kept between calls, and the member it goes to.
    idle: std::sync::Mutex<Option<(usize, Sender)>>,
    /// The member that last answered a call, and when.
    answered: std::sync::Mutex<Option<(usize, tokio::time::Instant)>>,
    /// The token of etcd's authentication, once a user has logged in.
    token: std::sync::Mutex<Option<String>>,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

impl Transport {
    /// The cluster `backend` describes.
    pub(super) fn new(backend: Backend) -> Self {
        Transport {
            backend,
            current: std::sync::atomic::AtomicUsize::default(),
            idle: std::sync::Mutex::default(),
            answered: std::sync::Mutex::default(),
            token: std::sync::Mutex::default(),
        }
    }

    /// The index of the member calls go to now.
    pub(super) fn current(&self) -> usize {
        self.current.load(std::sync::atomic::Ordering::Relaxed) % self.backend.members.len().max(1)
    }

    /// The member calls go to now, as `host:port`.
    fn address(&self) -> String {
        self.address_of(self.current())
    }

    pub(super) fn address_of(&self, member: usize) -> String {
        self.backend
            .members
            .get(member)
            .map(Member::address)
            .unwrap_or_default()
    }

    /// Logs in when the URL names a user and no token is held: the token every call
    /// then carries. A wrong password is refused by etcd with its reason.
    pub(super) async fn authenticate(&self) -> Result<(), EtcdError> {
        let Some((user, password)) = &self.backend.credentials else {
            return Ok(());
        };
        let request = json!({ "name": user, "password": password });
        let answer = match self.exchange("auth/authenticate", &request, false).await {
            Err(EtcdError::Refused { message, .. }) => {
                return Err(EtcdError::Authentication {
                    user: user.clone(),
                    message,
                });
            }
            other => other?,
        };
        let answer: wire::Authenticated = decode("auth/authenticate", answer)?;
        *self
            .token
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(answer.token);
        Ok(())
    }

    pub(super) fn token(&self) -> Option<String> {
        self.token
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Whether `member` answered a call within `within`.
    pub(super) fn answered_lately(&self, member: usize, within: Duration) -> bool {
        let answered = *self
            .answered
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        answered.is_some_and(|(index, at)| index == member && at.elapsed() < within)
    }

    /// Calls go to the next member from now on, if they still went to `member`.
    pub(super) fn move_on_from(&self, member: usize) {
        let next = (member + 1) % self.backend.members.len().max(1);
        let moved = self.current.compare_exchange(
            member,
            next,
            std::sync::atomic::Ordering::Relaxed,
            std::sync::atomic::Ordering::Relaxed,
        );
        if moved.is_ok() && next != member {
            tracing::info!(member = %self.address_of(next), "etcd calls move to another member");
        }
    }

    /// One call: the answer, or the error etcd or the network gave, or why the answer
    /// is not what etcd writes. With a user, it logs in first, and once more when etcd
    /// says the token expired.
    pub(super) async fn call<T: serde::de::DeserializeOwned>(
        &self,
        method: &str,
        request: Value,
    ) -> Result<T, EtcdError> {
        if self.backend.credentials.is_some() && self.token().is_none() {
            self.authenticate().await?;
        }
        let answer = match self.exchange(method, &request, true).await {
            Err(EtcdError::Refused { message, .. })
                if self.backend.credentials.is_some() && is_token_refusal(&message) =>
            {
                self.authenticate().await?;
                self.exchange(method, &request, true).await
            }
            other => other,
        }?;
        decode(method, answer)
    }

    /// One request and its answer, within [`CALL_TIMEOUT`].
    async fn exchange(
        &self,
        method: &str,
        request: &Value,
        with_token: bool,
    ) -> Result<Value, EtcdError> {
        let exchange = async {
            let kept = self.take_idle();
            let reused = kept.is_some();
            let (mut member, mut sender) = match kept {
                Some(kept) => kept,
                None => self.connect().await?,
            };
            let response = match sender
                .send_request(self.request(method, request, with_token)?)
                .await
            {
                Ok(response) => response,
                // etcd may have closed a kept connection (a restart, an idle timeout, a
                // member gone: the next connection goes to another).
                Err(_) if reused => {
                    (member, sender) = self.connect().await?;
                    sender
                        .send_request(self.request(method, request, with_token)?)
                        .await
                        .map_err(|err| self.unreachable(error_chain(&err)))?
                }
                Err(err) => return Err(self.unreachable(error_chain(&err))),
            };
            let status = response.status();
            let body = http_body_util::Limited::new(response.into_body(), MAX_ANSWER)
                .collect()
                .await
                .map_err(|err| self.unreachable(error_chain(&*err)))?
                .to_bytes();
            self.keep_idle(member, sender);
            let Ok(answer) = serde_json::from_slice::<Value>(&body) else {
                if status.is_success() {
                    return Err(unexpected(method, "an answer that is not JSON".to_owned()));
                }
                return Err(self.refused(method, &status.to_string()));
            };
            // A refusal, or a stream's error (`lease/keepalive` answers with a stream).
            if !status.is_success() || answer.get("error").is_some() {
                let failure: wire::Failure =
                    wire::decode(answer).unwrap_or_else(|_| wire::Failure::default());
                let message = failure.message().unwrap_or("no message");
                return Err(self.refused(method, message));
            }
            *self
                .answered
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) =
                Some((member, tokio::time::Instant::now()));
            Ok(answer)
        };
        tokio::time::timeout(CALL_TIMEOUT, exchange)
            .await
            .map_err(|_| self.unreachable("no answer in time"))?
    }

    /// A request on a connection of its own (a watch's long answer): the member it
    /// went to, and its answer.
    pub(super) async fn send(
        &self,
        method: &str,
        request: &Value,
    ) -> Result<(usize, hyper::Response<Incoming>), EtcdError> {
        if self.backend.credentials.is_some() && self.token().is_none() {
            self.authenticate().await?;
        }
        let (member, mut sender) = self.connect().await?;
        let response = sender
            .send_request(self.request(method, request, true)?)
            .await
            .map_err(|err| self.unreachable(error_chain(&err)))?;
        Ok((member, response))
    }

    /// A connection to the member last reached, or else to the next one that answers;
    /// and that member's index.
    async fn connect(&self) -> Result<(usize, Sender), EtcdError> {
        let members = &self.backend.members;
        let first = self.current.load(std::sync::atomic::Ordering::Relaxed);
        let mut last_error = None;
        for offset in 0..members.len() {
            let index = (first + offset) % members.len();
            match self.connect_to(&members[index]).await {
                Ok(sender) => {
                    if index != first % members.len() {
                        tracing::info!(member = %members[index].address(), "etcd calls move to another member");
                    }
                    self.current
                        .store(index, std::sync::atomic::Ordering::Relaxed);
                    return Ok((index, sender));
                }
                Err(err) => last_error = Some(err),
            }
        }
        Err(last_error.unwrap_or_else(|| self.unreachable("no member")))
    }

    async fn connect_to(&self, member: &Member) -> Result<Sender, EtcdError> {
        let unreachable = |reason: String| EtcdError::Unreachable {
            address: member.address(),
            reason,
        };
        let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(member.address()))
            .await
            .map_err(|_| unreachable("no connection in time".to_owned()))?
            .map_err(|err| unreachable(err.to_string()))?;
        let _ = stream.set_nodelay(true);
        let _ = keep_alive(&stream);
        let stream: Box<dyn Stream> = match &self.backend.tls {
            None => Box::new(stream),
            Some(connector) => Box::new(
                super::tls::handshake(connector, &member.host, stream, CONNECT_TIMEOUT)
                    .await
                    .map_err(&unreachable)?,
            ),
        };
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|err| unreachable(err.to_string()))?;
        tokio::spawn(async move {
            // Ends when the connection closes; a request's error shows in its answer.
            let _ = connection.await;
        });
        Ok(sender)
    }

    fn request(
        &self,
        method: &str,
        request: &Value,
        with_token: bool,
    ) -> Result<hyper::Request<Full<Bytes>>, EtcdError> {
        let mut builder = hyper::Request::post(format!("/v3/{method}"))
            .header(hyper::header::HOST, self.address())
            .header(hyper::header::CONTENT_TYPE, "application/json");
        if let Some(token) = self.token().filter(|_| with_token) {
            builder = builder.header(hyper::header::AUTHORIZATION, token);
        }
        builder
            .body(Full::new(Bytes::from(request.to_string())))
            .map_err(|err| self.refused(method, &err.to_string()))
    }

    /// The kept connection, if it is there, can take a request, and goes to the member
    /// calls go to now (a watch may have moved them on).
    fn take_idle(&self) -> Option<(usize, Sender)> {
        let mut idle = self
            .idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        idle.take()
            .filter(|(member, sender)| *member == self.current() && sender.is_ready())
    }

    fn keep_idle(&self, member: usize, sender: Sender) {
        if sender.is_ready() {
            *self
                .idle
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some((member, sender));
        }
    }

    pub(super) fn unreachable(&self, reason: impl std::fmt::Display) -> EtcdError {
        EtcdError::Unreachable {
            address: self.address(),
            reason: reason.to_string(),
        }
    }

    pub(super) fn refused(&self, method: &str, message: &str) -> EtcdError {
        EtcdError::Refused {
            method: method.to_owned(),
            message: message.to_owned(),
        }
    }
}

/// Turns TCP keep-alive on for a connection to etcd, with this module's timing.
fn keep_alive(stream: &TcpStream) -> rustix::io::Result<()> {
    use rustix::net::sockopt;
    sockopt::set_socket_keepalive(stream, true)?;
    sockopt::set_tcp_keepidle(stream, KEEPALIVE_IDLE)?;
    sockopt::set_tcp_keepintvl(stream, KEEPALIVE_INTERVAL)?;
    sockopt::set_tcp_keepcnt(stream, KEEPALIVE_PROBES)
}
/// Whether etcd refused a call for its token (expired, or from before a restart).
fn is_token_refusal(message: &str) -> bool {
    message.contains("invalid auth token") || message.contains("user name is empty")
}

/// An answer decoded as `T`, or the error saying why it is not what etcd writes.
fn decode<T: serde::de::DeserializeOwned>(method: &str, answer: Value) -> Result<T, EtcdError> {
    wire::decode(answer).map_err(|reason| unexpected(method, reason))
}

fn unexpected(method: &str, reason: String) -> EtcdError {
    EtcdError::Unexpected {
        method: method.to_owned(),
        reason,
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn connections_to_etcd_probe_a_peer_that_went_quiet() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let stream = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        keep_alive(&stream).unwrap();
        use rustix::net::sockopt;
        assert!(sockopt::socket_keepalive(&stream).unwrap());
        assert_eq!(sockopt::tcp_keepidle(&stream).unwrap(), KEEPALIVE_IDLE);
        assert_eq!(sockopt::tcp_keepintvl(&stream).unwrap(), KEEPALIVE_INTERVAL);
        assert_eq!(sockopt::tcp_keepcnt(&stream).unwrap(), KEEPALIVE_PROBES);
    }
}
