//! The calls the coordinator makes to etcd v3, through etcd's JSON gateway: `POST
//! /v3/<service>/<method>` with the request as JSON (keys and values in base64, 64-bit
//! numbers as strings), over HTTP/1.1 with hyper. Calls reuse one kept-alive connection
//! (a call that finds it busy opens another; a request that fails on a kept connection,
//! which etcd may have closed, is sent once more on a new one). A watch has a
//! connection of its own: it is one long response whose body is a stream of JSON
//! objects. Connections go to the member last reached and move to the next when it
//! cannot be reached; over TLS when the URL says `etcd3+https`; with the token of
//! etcd's authentication when it names a user.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpStream;

use super::backend::{Backend, Member};
use crate::error::error_chain;

/// How long one call may take, connection included.
const CALL_TIMEOUT: Duration = Duration::from_secs(3);

/// Why a call to etcd failed.
#[derive(Debug, thiserror::Error)]
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
}

/// One key and its value as etcd holds them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyValue {
    /// The key.
    pub key: String,
    /// The value.
    pub value: String,
    /// The lease the key is attached to (0 for none).
    pub lease: i64,
}

/// Why a watch ended without an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WatchEnd {
    /// etcd (or the connection) closed it.
    Closed,
    /// The revision asked for is gone: etcd compacted its history up to this one.
    Compacted(i64),
}

/// A change seen by a watch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Change {
    Put(KeyValue),
    Delete(String),
}

/// The sending half of an HTTP/1.1 connection to etcd.
type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

/// A connection's stream: plain TCP, or TLS over it.
trait Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin {}
impl<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin> Stream for S {}

/// The largest answer read from etcd: a range of every member of a large group fits
/// many times over; a larger one is refused rather than held.
const MAX_ANSWER: usize = 16 << 20;

/// How long connecting to one member may take before the next is tried.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// The etcd v3 API of a cluster's members: calls go to the member last reached, and
/// move to the next one when it cannot be reached.
#[derive(Clone)]
pub(crate) struct Etcd {
    backend: std::sync::Arc<Backend>,
    /// The member calls go to: the last one reached.
    current: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    /// A connection kept between calls.
    idle: std::sync::Arc<std::sync::Mutex<Option<Sender>>>,
    /// The token of etcd's authentication, once a user has logged in.
    token: std::sync::Arc<std::sync::Mutex<Option<String>>>,
}

impl std::fmt::Debug for Etcd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Etcd")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

impl Etcd {
    /// The cluster `backend` describes.
    pub(crate) fn new(backend: Backend) -> Self {
        Etcd {
            backend: std::sync::Arc::new(backend),
            current: std::sync::Arc::default(),
            idle: std::sync::Arc::default(),
            token: std::sync::Arc::default(),
        }
    }

    /// The member calls go to now, as `host:port`.
    fn address(&self) -> String {
        let members = &self.backend.members;
        let index = self.current.load(std::sync::atomic::Ordering::Relaxed) % members.len().max(1);
        members.get(index).map(Member::address).unwrap_or_default()
    }

    /// Logs in when the URL names a user and no token is held: the token every call
    /// then carries. A wrong password is refused by etcd with its reason.
    pub(crate) async fn authenticate(&self) -> Result<(), EtcdError> {
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
        let token = answer["token"]
            .as_str()
            .ok_or_else(|| self.refused("auth/authenticate", "no token in the answer"))?;
        *self
            .token
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(token.to_owned());
        Ok(())
    }

    fn token(&self) -> Option<String> {
        self.token
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// A new lease of `ttl`; its id.
    pub(crate) async fn grant(&self, ttl: Duration) -> Result<i64, EtcdError> {
        let answer = self
            .call("lease/grant", json!({ "TTL": ttl.as_secs().max(1) }))
            .await?;
        number(&answer["ID"]).ok_or_else(|| self.refused("lease/grant", "no lease id"))
    }

    /// Keeps lease `id` alive: its remaining TTL, or `None` when etcd no longer has it.
    pub(crate) async fn keep_alive(&self, id: i64) -> Result<Option<Duration>, EtcdError> {
        let answer = self
            .call("lease/keepalive", json!({ "ID": id.to_string() }))
            .await?;
        Ok(number(&answer["result"]["TTL"])
            .filter(|&ttl| ttl > 0)
            .map(|ttl| Duration::from_secs(ttl.unsigned_abs())))
    }

    /// Ends lease `id`: every key attached to it goes at once.
    pub(crate) async fn revoke(&self, id: i64) -> Result<(), EtcdError> {
        match self
            .call("lease/revoke", json!({ "ID": id.to_string() }))
            .await
        {
            // Already gone is what was asked.
            Err(EtcdError::Refused { message, .. }) if message.contains("lease not found") => {
                Ok(())
            }
            other => other.map(drop),
        }
    }

    /// Sets `key` to `value`, attached to `lease` (0 for none).
    pub(crate) async fn put(&self, key: &str, value: &str, lease: i64) -> Result<(), EtcdError> {
        self.call("kv/put", put(key, value, lease)).await.map(drop)
    }

    /// Sets `key` to `value` (attached to `lease`) if no one holds it: whether it did.
    pub(crate) async fn create(
        &self,
        key: &str,
        value: &str,
        lease: i64,
    ) -> Result<bool, EtcdError> {
        let request = json!({
            "compare": [{ "key": encode(key), "target": "CREATE", "result": "EQUAL",
                          "create_revision": "0" }],
            "success": [{ "request_put": put(key, value, lease) }],
        });
        let answer = self.call("kv/txn", request).await?;
        Ok(answer["succeeded"].as_bool().unwrap_or(false))
    }

    /// Sets `key` to `value` when `member` is attached to `lease` and the key is absent
    /// or its value sorts before `before` (values are compared as bytes): whether it did.
    pub(crate) async fn advance(
        &self,
        member: &str,
        lease: i64,
        key: &str,
        value: &str,
        before: &str,
    ) -> Result<bool, EtcdError> {
        let guard = json!({ "key": encode(member), "target": "LEASE", "result": "EQUAL",
                            "lease": lease.to_string() });
        let absent = json!({ "key": encode(key), "target": "CREATE", "result": "EQUAL",
                             "create_revision": "0" });
        let earlier = json!({ "key": encode(key), "target": "VALUE", "result": "LESS",
                              "value": encode(before) });
        // etcd has no "or": the second case is a transaction nested in the first's failure.
        let request = json!({
            "compare": [guard.clone(), absent],
            "success": [{ "request_put": put(key, value, 0) }],
            "failure": [{ "request_txn": {
                "compare": [guard, earlier],
                "success": [{ "request_put": put(key, value, 0) }],
            }}],
        });
        let answer = self.call("kv/txn", request).await?;
        let first = answer["succeeded"].as_bool().unwrap_or(false);
        let second = answer["responses"][0]["response_txn"]["succeeded"]
            .as_bool()
            .unwrap_or(false);
        Ok(first || second)
    }

    /// The value of `key`.
    pub(crate) async fn get(&self, key: &str) -> Result<Option<KeyValue>, EtcdError> {
        let answer = self.call("kv/range", json!({ "key": encode(key) })).await?;
        Ok(key_values(&answer["kvs"]).into_iter().next())
    }

    /// The revision etcd is at, read with `key` (which need not exist).
    pub(crate) async fn revision_at(&self, key: &str) -> Result<i64, EtcdError> {
        let answer = self.call("kv/range", json!({ "key": encode(key) })).await?;
        Ok(number(&answer["header"]["revision"]).unwrap_or(0))
    }

    /// Every key under `prefix`, and the revision they were read at.
    pub(crate) async fn get_prefix(&self, prefix: &str) -> Result<(Vec<KeyValue>, i64), EtcdError> {
        let request = json!({ "key": encode(prefix), "range_end": encode(&prefix_end(prefix)) });
        let answer = self.call("kv/range", request).await?;
        let revision = number(&answer["header"]["revision"]).unwrap_or(0);
        Ok((key_values(&answer["kvs"]), revision))
    }

    /// Deletes `key` if it is still attached to `lease`.
    pub(crate) async fn delete_if_lease(&self, key: &str, lease: i64) -> Result<(), EtcdError> {
        let request = json!({
            "compare": [{ "key": encode(key), "target": "LEASE", "result": "EQUAL",
                          "lease": lease.to_string() }],
            "success": [{ "request_delete_range": { "key": encode(key) } }],
        });
        self.call("kv/txn", request).await.map(drop)
    }

    /// Watches `key` (with `whole_prefix`, every key under it) from `revision` on;
    /// `changes` gets each batch, with the revision of its last change (a watch started
    /// again after it misses nothing). Returns when the stream ends or fails (the
    /// caller watches again), or when etcd has compacted away `revision`.
    pub(crate) async fn watch(
        &self,
        key: &str,
        whole_prefix: bool,
        revision: i64,
        mut changes: impl FnMut(Vec<Change>, i64),
    ) -> Result<WatchEnd, EtcdError> {
        let mut request = json!({ "create_request": {
            "key": encode(key),
            "start_revision": revision.to_string(),
        }});
        if whole_prefix {
            request["create_request"]["range_end"] = json!(encode(&prefix_end(key)));
        }
        let response = tokio::time::timeout(CALL_TIMEOUT, self.send("watch", &request))
            .await
            .map_err(|_| self.unreachable("no answer in time"))??;
        let mut body = response.into_body();
        let mut pending = Vec::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|err| self.unreachable(err))?;
            let Some(data) = frame.data_ref() else {
                continue;
            };
            pending.extend_from_slice(data);
            // The gateway writes one JSON object per message; split on the newlines.
            while let Some(end) = pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = pending.drain(..=end).collect();
                if let Ok(message) = serde_json::from_slice::<Value>(&line) {
                    let result = &message["result"];
                    if let Some(compacted) = number(&result["compact_revision"]).filter(|&r| r > 0)
                    {
                        return Ok(WatchEnd::Compacted(compacted));
                    }
                    let batch = events(&result["events"]);
                    let last = result["events"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|event| number(&event["kv"]["mod_revision"]))
                        .max();
                    if let (false, Some(last)) = (batch.is_empty(), last) {
                        changes(batch, last);
                    }
                }
                // A line can be no longer than an answer may be.
                if pending.len() > MAX_ANSWER {
                    return Err(self.unreachable("a watch message longer than 16 MiB"));
                }
            }
        }
        Ok(WatchEnd::Closed)
    }

    /// One call: the answer's JSON, or the error etcd or the network gave. With a user,
    /// it logs in first, and once more when etcd says the token expired.
    async fn call(&self, method: &str, request: Value) -> Result<Value, EtcdError> {
        if self.backend.credentials.is_some() && self.token().is_none() {
            self.authenticate().await?;
        }
        match self.exchange(method, &request, true).await {
            Err(EtcdError::Refused { message, .. })
                if self.backend.credentials.is_some() && is_token_refusal(&message) =>
            {
                self.authenticate().await?;
                self.exchange(method, &request, true).await
            }
            other => other,
        }
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
            let mut sender = match kept {
                Some(sender) => sender,
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
                    sender = self.connect().await?;
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
            self.keep_idle(sender);
            let answer: Value = serde_json::from_slice(&body)
                .map_err(|err| self.refused(method, &format!("unreadable answer: {err}")))?;
            if !status.is_success() || answer.get("error").is_some() {
                let message = answer["message"]
                    .as_str()
                    .or_else(|| answer["error"].as_str())
                    .unwrap_or("no message")
                    .to_owned();
                return Err(self.refused(method, &message));
            }
            Ok(answer)
        };
        tokio::time::timeout(CALL_TIMEOUT, exchange)
            .await
            .map_err(|_| self.unreachable("no answer in time"))?
    }

    /// A request on a connection of its own (a watch's long answer).
    async fn send(
        &self,
        method: &str,
        request: &Value,
    ) -> Result<hyper::Response<Incoming>, EtcdError> {
        if self.backend.credentials.is_some() && self.token().is_none() {
            self.authenticate().await?;
        }
        let mut sender = self.connect().await?;
        sender
            .send_request(self.request(method, request, true)?)
            .await
            .map_err(|err| self.unreachable(error_chain(&err)))
    }

    /// A connection to the member last reached, or else to the next one that answers.
    async fn connect(&self) -> Result<Sender, EtcdError> {
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
                    return Ok(sender);
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

    /// The kept connection, if it is there and can take a request.
    fn take_idle(&self) -> Option<Sender> {
        let mut idle = self
            .idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        idle.take().filter(|sender| sender.is_ready())
    }

    fn keep_idle(&self, sender: Sender) {
        if sender.is_ready() {
            *self
                .idle
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(sender);
        }
    }

    fn unreachable(&self, reason: impl std::fmt::Display) -> EtcdError {
        EtcdError::Unreachable {
            address: self.address(),
            reason: reason.to_string(),
        }
    }

    fn refused(&self, method: &str, message: &str) -> EtcdError {
        EtcdError::Refused {
            method: method.to_owned(),
            message: message.to_owned(),
        }
    }
}

/// Whether etcd refused a call for its token (expired, or from before a restart).
fn is_token_refusal(message: &str) -> bool {
    message.contains("invalid auth token") || message.contains("user name is empty")
}

fn put(key: &str, value: &str, lease: i64) -> Value {
    let mut put = json!({ "key": encode(key), "value": encode(value) });
    if lease != 0 {
        put["lease"] = json!(lease.to_string());
    }
    put
}

fn encode(text: &str) -> String {
    BASE64.encode(text)
}

fn decode(value: &Value) -> String {
    value
        .as_str()
        .and_then(|text| BASE64.decode(text).ok())
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_default()
}

/// A 64-bit number as the gateway writes it (a string), or as a plain number.
fn number(value: &Value) -> Option<i64> {
    value
        .as_str()
        .and_then(|text| text.parse().ok())
        .or_else(|| value.as_i64())
}

/// The first key after every key that starts with `prefix`.
fn prefix_end(prefix: &str) -> String {
    let mut end = prefix.as_bytes().to_vec();
    if let Some(last) = end.last_mut() {
        *last += 1;
    }
    String::from_utf8_lossy(&end).into_owned()
}

fn key_values(kvs: &Value) -> Vec<KeyValue> {
    kvs.as_array()
        .map(|kvs| kvs.iter().map(key_value).collect())
        .unwrap_or_default()
}

fn key_value(kv: &Value) -> KeyValue {
    KeyValue {
        key: decode(&kv["key"]),
        value: decode(&kv["value"]),
        lease: number(&kv["lease"]).unwrap_or(0),
    }
}

fn events(events: &Value) -> Vec<Change> {
    events
        .as_array()
        .map(|events| {
            events
                .iter()
                .map(|event| match event["type"].as_str() {
                    Some("DELETE") => Change::Delete(decode(&event["kv"]["key"])),
                    _ => Change::Put(key_value(&event["kv"])),
                })
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_end_after_their_last_key() {
        assert_eq!(prefix_end("/oslo/members/a/"), "/oslo/members/a0");
    }

    #[test]
    fn answers_as_the_gateway_writes_them() {
        let answer: Value = serde_json::from_str(
            r#"{"kvs":[{"key":"Zm9v","value":"YmFy","lease":"7"}],"header":{"revision":"3"}}"#,
        )
        .unwrap();
        assert_eq!(
            key_values(&answer["kvs"]),
            [KeyValue {
                key: "foo".into(),
                value: "bar".into(),
                lease: 7
            }]
        );
        let watch: Value = serde_json::from_str(
            r#"{"events":[{"type":"DELETE","kv":{"key":"Zm9v"}},{"kv":{"key":"YQ==","value":"Yg=="}}]}"#,
        )
        .unwrap();
        assert_eq!(
            events(&watch["events"]),
            [
                Change::Delete("foo".into()),
                Change::Put(KeyValue {
                    key: "a".into(),
                    value: "b".into(),
                    lease: 0
                })
            ]
        );
    }
}
