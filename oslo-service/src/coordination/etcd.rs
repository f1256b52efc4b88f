//! The calls the coordinator makes to etcd v3: the requests as etcd's JSON gateway takes
//! them (keys and values in base64, 64-bit numbers as strings), sent by `transport` (the
//! connections, the failover between members, the authentication token) and their
//! answers read through the types of `wire`. A watch has a connection of its own: it is
//! one long response whose body is a stream of JSON objects, one a line, each line
//! bounded as its bytes arrive.
//!
//! A watch hears nothing while nothing changes, which is also all that a watch on a
//! hung member, or on a connection that died without a word, hears. So a watch asks
//! etcd for its progress notifications, and one that has heard no change for
//! [`WatchTiming::check_after`] checks its member with a call: a member that does not
//! answer (stopped, cut off from its cluster's leader, gone) ends the watch as broken,
//! and the next watch goes to the next member. A watch that hears not a byte for
//! [`WatchTiming::max_silence`], longer than etcd leaves between two progress
//! notifications, ends too. Either way the caller watches again from the revision after
//! the last one seen, so no change is lost.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use http_body_util::BodyExt;
use serde_json::{Value, json};

use super::backend::Backend;
pub use super::transport::EtcdError;
use super::transport::{CALL_TIMEOUT, MAX_ANSWER, Transport};
use super::wire;

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
    /// It heard nothing for [`WatchTiming::max_silence`] although its member answers:
    /// the stream is stuck. Watching again at once from the next revision misses nothing.
    Silent,
    /// The revision asked for is gone: etcd compacted its history up to this one.
    Compacted(i64),
}

/// A change seen by a watch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Change {
    Put(KeyValue),
    Delete(String),
}

/// When a watch that hears nothing is given up.
#[derive(Clone, Copy, Debug)]
pub(crate) struct WatchTiming {
    /// A watch that has heard no change for this long checks that its member answers a
    /// call (one made for other reasons within this time counts); the call has
    /// [`CALL_TIMEOUT`]. A watch on a member that stopped answering ends within twice
    /// `check_after` plus [`CALL_TIMEOUT`] of the member's last answer (23 s).
    pub(crate) check_after: Duration,
    /// A watch that hears not a byte for this long ends, its member's answers
    /// notwithstanding. etcd sends a progress notification to a quiet watch every 10
    /// min by default (`--experimental-watch-progress-notify-interval`, plus up to a
    /// tenth of it): a stream that has been silent for longer is stuck.
    pub(crate) max_silence: Duration,
}

impl Default for WatchTiming {
    fn default() -> Self {
        WatchTiming {
            check_after: Duration::from_secs(10),
            max_silence: Duration::from_secs(15 * 60),
        }
    }
}

/// The etcd v3 API of a cluster's members: calls go to the member last reached, and
/// move to the next one when it cannot be reached.
#[derive(Clone, Debug)]
pub(crate) struct Etcd {
    transport: Arc<Transport>,
    watch_timing: WatchTiming,
}

impl Etcd {
    /// The cluster `backend` describes.
    pub(crate) fn new(backend: Backend) -> Self {
        Etcd {
            transport: Arc::new(Transport::new(backend)),
            watch_timing: WatchTiming::default(),
        }
    }

    /// The same cluster, with its watches given up on other terms (tests).
    #[cfg(test)]
    fn with_watch_timing(mut self, timing: WatchTiming) -> Self {
        self.watch_timing = timing;
        self
    }

    /// Logs in when the URL names a user and no token is held: the token every call
    /// then carries. A wrong password is refused by etcd with its reason.
    pub(crate) async fn authenticate(&self) -> Result<(), EtcdError> {
        self.transport.authenticate().await
    }

    /// A new lease of `ttl`; its id.
    pub(crate) async fn grant(&self, ttl: Duration) -> Result<i64, EtcdError> {
        let answer: wire::LeaseGrant = self
            .transport
            .call("lease/grant", json!({ "TTL": ttl.as_secs().max(1) }))
            .await?;
        if !answer.error.is_empty() {
            return Err(self.transport.refused("lease/grant", &answer.error));
        }
        Ok(answer.id)
    }

    /// Keeps lease `id` alive: its remaining TTL, or `None` when etcd no longer has it.
    pub(crate) async fn keep_alive(&self, id: i64) -> Result<Option<Duration>, EtcdError> {
        let answer: wire::KeepAliveStream = self
            .transport
            .call("lease/keepalive", json!({ "ID": id.to_string() }))
            .await?;
        Ok(Some(answer.result.ttl)
            .filter(|&ttl| ttl > 0)
            .map(|ttl| Duration::from_secs(ttl.unsigned_abs())))
    }

    /// Ends lease `id`: every key attached to it goes at once.
    pub(crate) async fn revoke(&self, id: i64) -> Result<(), EtcdError> {
        match self
            .transport
            .call::<wire::Acknowledged>("lease/revoke", json!({ "ID": id.to_string() }))
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
        self.transport
            .call::<wire::Acknowledged>("kv/put", put(key, value, lease))
            .await
            .map(drop)
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
        let answer: wire::Txn = self.transport.call("kv/txn", request).await?;
        Ok(answer.succeeded)
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
        let answer: wire::Txn = self.transport.call("kv/txn", request).await?;
        if answer.succeeded {
            return Ok(true);
        }
        // The failure branch ran: its nested transaction's answer must be there.
        let nested = answer.nested().ok_or_else(|| EtcdError::Unexpected {
            method: "kv/txn".to_owned(),
            reason: "a failed compare without its nested transaction's answer".to_owned(),
        })?;
        Ok(nested.succeeded)
    }

    /// The value of `key`.
    pub(crate) async fn get(&self, key: &str) -> Result<Option<KeyValue>, EtcdError> {
        let answer: wire::Range = self
            .transport
            .call("kv/range", json!({ "key": encode(key) }))
            .await?;
        Ok(answer.kvs.into_iter().next().map(KeyValue::from))
    }

    /// The revision etcd is at, read with `key` (which need not exist).
    pub(crate) async fn revision_at(&self, key: &str) -> Result<i64, EtcdError> {
        let answer: wire::Range = self
            .transport
            .call("kv/range", json!({ "key": encode(key) }))
            .await?;
        Ok(answer.header.revision)
    }

    /// Every key under `prefix`, and the revision they were read at.
    pub(crate) async fn get_prefix(&self, prefix: &str) -> Result<(Vec<KeyValue>, i64), EtcdError> {
        let request = json!({ "key": encode(prefix), "range_end": encode(&prefix_end(prefix)) });
        let answer: wire::Range = self.transport.call("kv/range", request).await?;
        let kvs = answer.kvs.into_iter().map(KeyValue::from).collect();
        Ok((kvs, answer.header.revision))
    }

    /// Deletes `key` if it is still attached to `lease`.
    pub(crate) async fn delete_if_lease(&self, key: &str, lease: i64) -> Result<(), EtcdError> {
        let request = json!({
            "compare": [{ "key": encode(key), "target": "LEASE", "result": "EQUAL",
                          "lease": lease.to_string() }],
            "success": [{ "request_delete_range": { "key": encode(key) } }],
        });
        self.transport
            .call::<wire::Txn>("kv/txn", request)
            .await
            .map(drop)
    }

    /// Watches `key` (with `whole_prefix`, every key under it) from `revision` on;
    /// `changes` gets each batch, with the revision of its last change, and an empty
    /// batch with the revision up to which etcd says it sent everything (a progress
    /// notification, which may be older than a change already seen): a watch started
    /// again after the highest of them misses nothing. Returns when the stream ends or
    /// fails, or its member stops answering (the caller watches again), when it heard
    /// nothing for too long ([`WatchEnd::Silent`]), or when etcd has compacted away
    /// `revision`.
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
            "progress_notify": true,
        }});
        if whole_prefix {
            request["create_request"]["range_end"] = json!(encode(&prefix_end(key)));
        }
        let (member, response) =
            tokio::time::timeout(CALL_TIMEOUT, self.transport.send("watch", &request))
                .await
                .map_err(|_| self.transport.unreachable("no answer in time"))??;
        if !response.status().is_success() {
            let status = response.status();
            let body = http_body_util::Limited::new(response.into_body(), MAX_ANSWER).collect();
            let body = tokio::time::timeout(CALL_TIMEOUT, body)
                .await
                .ok()
                .and_then(Result::ok)
                .map(|body| body.to_bytes())
                .unwrap_or_default();
            let failure: wire::Failure = serde_json::from_slice(&body).unwrap_or_default();
            let message = failure
                .message()
                .map_or_else(|| status.to_string(), str::to_owned);
            return Err(self.transport.refused("watch", &message));
        }
        let mut body = response.into_body();
        let mut lines = Lines::new(MAX_ANSWER);
        let timing = self.watch_timing;
        // The last change seen (or the last check of the member), and the last byte.
        let mut checked = tokio::time::Instant::now();
        let mut heard = checked;
        loop {
            let check_due = checked + timing.check_after;
            let silent_due = heard + timing.max_silence;
            let frame = tokio::select! {
                frame = body.frame() => frame,
                () = tokio::time::sleep_until(check_due.min(silent_due)) => {
                    if tokio::time::Instant::now() >= silent_due {
                        return Ok(WatchEnd::Silent);
                    }
                    if !self.answers(member, key).await {
                        self.transport.move_on_from(member);
                        return Err(EtcdError::Unreachable {
                            address: self.transport.address_of(member),
                            reason: format!(
                                "a watch heard nothing for {}s and its member did not answer a check",
                                timing.check_after.as_secs()
                            ),
                        });
                    }
                    checked = tokio::time::Instant::now();
                    continue;
                }
            };
            let Some(frame) = frame else {
                return Ok(WatchEnd::Closed);
            };
            let frame = frame.map_err(|err| self.transport.unreachable(err))?;
            let Some(data) = frame.data_ref() else {
                continue;
            };
            heard = tokio::time::Instant::now();
            // The gateway writes one JSON object per message, each on a line.
            let received = lines.push(data).map_err(|too_long| {
                self.transport.unreachable(format!(
                    "a watch message longer than {} MiB",
                    too_long >> 20
                ))
            })?;
            for line in received {
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                // A line not read would be a change lost: the watch ends instead, and
                // the next one starts after the last change seen.
                let message = wire::decode_line(&line)
                    .and_then(read_watch_message)
                    .map_err(|reason| EtcdError::Unexpected {
                        method: "watch".to_owned(),
                        reason,
                    })?;
                match message {
                    WatchMessage::Changes(batch, last) => {
                        checked = tokio::time::Instant::now();
                        changes(batch, last);
                    }
                    WatchMessage::Progress(revision) => changes(Vec::new(), revision),
                    WatchMessage::Created => {}
                    WatchMessage::Compacted(compacted) => {
                        return Ok(WatchEnd::Compacted(compacted));
                    }
                    WatchMessage::Refused(reason) => {
                        return Err(self.transport.refused("watch", &reason));
                    }
                }
            }
        }
    }

    /// Whether `member` answered a call lately, or answers one now. A member that calls
    /// no longer go to does not.
    async fn answers(&self, member: usize, key: &str) -> bool {
        if self
            .transport
            .answered_lately(member, self.watch_timing.check_after)
        {
            return true;
        }
        if self.transport.current() != member {
            return false;
        }
        let check = json!({ "key": encode(key), "count_only": true });
        // A linearizable read: a member cut off from its cluster's leader fails it. One
        // call's time in all, a new token included.
        let answered = tokio::time::timeout(
            CALL_TIMEOUT,
            self.transport.call::<wire::Range>("kv/range", check),
        )
        .await;
        matches!(answered, Ok(Ok(_)))
            && self
                .transport
                .answered_lately(member, self.watch_timing.check_after)
    }
}

/// What one line of a watch's stream says.
#[derive(Debug, PartialEq, Eq)]
enum WatchMessage {
    /// Changes, and the revision of the last.
    Changes(Vec<Change>, i64),
    /// etcd sent everything up to this revision (a progress notification).
    Progress(i64),
    /// The watch is in place.
    Created,
    /// The revision asked for was compacted away.
    Compacted(i64),
    /// etcd ended the watch, or its gateway failed, for this reason.
    Refused(String),
}

/// What a line of a watch's stream says; why it is not what etcd writes.
fn read_watch_message(line: wire::WatchLine) -> Result<WatchMessage, String> {
    if let Some(error) = line.error {
        let reason = error.message().unwrap_or("the watch failed");
        return Ok(WatchMessage::Refused(reason.to_owned()));
    }
    let Some(result) = line.result else {
        return Err("a line with neither result nor error".to_owned());
    };
    if result.compact_revision > 0 {
        return Ok(WatchMessage::Compacted(result.compact_revision));
    }
    if result.canceled {
        let reason = Some(result.cancel_reason)
            .filter(|reason| !reason.is_empty())
            .unwrap_or_else(|| "etcd canceled the watch".to_owned());
        return Ok(WatchMessage::Refused(reason));
    }
    if result.created {
        return Ok(WatchMessage::Created);
    }
    if result.events.is_empty() {
        // No event, not created, not canceled: a progress notification.
        return Ok(WatchMessage::Progress(result.header.revision));
    }
    let last = result
        .events
        .iter()
        .map(|event| event.kv.mod_revision)
        .max()
        .unwrap_or(0);
    // A change is at a revision after the one the watch started from: 0 is never one.
    if last == 0 {
        return Err("changes without their revision".to_owned());
    }
    Ok(WatchMessage::Changes(
        result.events.into_iter().map(Change::from).collect(),
        last,
    ))
}

/// A watch's stream cut into lines as its bytes arrive; a line (or the part of one
/// received so far) longer than its bound is refused before more of it is held.
#[derive(Debug)]
struct Lines {
    /// The start of a line: no newline in it.
    pending: Vec<u8>,
    max: usize,
}

impl Lines {
    fn new(max: usize) -> Self {
        Lines {
            pending: Vec::new(),
            max,
        }
    }

    /// The lines `data` completes; `Err` with the bound when a line is longer.
    fn push(&mut self, data: &[u8]) -> Result<Vec<Vec<u8>>, usize> {
        let mut lines = Vec::new();
        let mut rest = data;
        while let Some(end) = rest.iter().position(|&b| b == b'\n') {
            if self.pending.len() + end > self.max {
                return Err(self.max);
            }
            let mut line = std::mem::take(&mut self.pending);
            line.extend_from_slice(&rest[..end]);
            lines.push(line);
            rest = &rest[end + 1..];
        }
        if self.pending.len() + rest.len() > self.max {
            return Err(self.max);
        }
        self.pending.extend_from_slice(rest);
        Ok(lines)
    }
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
/// The first key after every key that starts with `prefix`.
fn prefix_end(prefix: &str) -> String {
    let mut end = prefix.as_bytes().to_vec();
    if let Some(last) = end.last_mut() {
        *last += 1;
    }
    String::from_utf8_lossy(&end).into_owned()
}

impl From<wire::Kv> for KeyValue {
    fn from(kv: wire::Kv) -> Self {
        KeyValue {
            key: kv.key,
            value: kv.value,
            lease: kv.lease,
        }
    }
}

impl From<wire::Event> for Change {
    fn from(event: wire::Event) -> Self {
        match event.kind {
            wire::EventKind::Delete => Change::Delete(event.kv.key),
            wire::EventKind::Put => Change::Put(event.kv.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_end_after_their_last_key() {
        assert_eq!(prefix_end("/oslo/members/a/"), "/oslo/members/a0");
    }

    #[test]
    fn watch_events_as_the_gateway_writes_them() {
        let line = wire::decode_line(
            br#"{"result":{"header":{"revision":"5"},"events":[{"type":"DELETE","kv":{"key":"Zm9v","mod_revision":"4"}},{"kv":{"key":"YQ==","value":"Yg==","lease":"7","mod_revision":"5"}}]}}"#,
        )
        .unwrap();
        assert_eq!(
            read_watch_message(line),
            Ok(WatchMessage::Changes(
                vec![
                    Change::Delete("foo".into()),
                    Change::Put(KeyValue {
                        key: "a".into(),
                        value: "b".into(),
                        lease: 7
                    })
                ],
                5
            ))
        );
    }

    #[test]
    fn watch_lines_are_cut_and_bounded_as_they_arrive() {
        let mut lines = Lines::new(8);
        assert_eq!(lines.push(b"ab"), Ok(vec![]));
        assert_eq!(
            lines.push(b"c\nde\nf"),
            Ok(vec![b"abc".to_vec(), b"de".to_vec()])
        );
        // A line without its end yet: held up to the bound, refused beyond.
        assert_eq!(lines.push(b"ghijklm"), Ok(vec![]));
        assert_eq!(lines.push(b"n"), Err(8));
        // A whole line longer than the bound, in one piece, is refused too.
        assert_eq!(Lines::new(4).push(b"abcde\n"), Err(4));
    }

    #[test]
    fn watch_messages_as_the_gateway_writes_them() {
        let read =
            |text: &str| read_watch_message(wire::decode_line(text.as_bytes()).unwrap()).unwrap();
        let header = r#""header":{"revision":"41","raft_term":"2"}"#;
        assert_eq!(
            read(&format!(r#"{{"result":{{{header},"created":true}}}}"#)),
            WatchMessage::Created
        );
        assert_eq!(
            read(&format!(r#"{{"result":{{{header}}}}}"#)),
            WatchMessage::Progress(41)
        );
        assert_eq!(
            read(&format!(
                r#"{{"result":{{{header},"events":[{{"type":"DELETE","kv":{{"key":"YQ==","mod_revision":"40"}}}}]}}}}"#
            )),
            WatchMessage::Changes(vec![Change::Delete("a".into())], 40)
        );
        assert_eq!(
            read(&format!(
                r#"{{"result":{{{header},"canceled":true,"compact_revision":"30"}}}}"#
            )),
            WatchMessage::Compacted(30)
        );
        assert_eq!(
            read(&format!(
                r#"{{"result":{{{header},"created":true,"canceled":true,"cancel_reason":"etcdserver: permission denied"}}}}"#
            )),
            WatchMessage::Refused("etcdserver: permission denied".into())
        );
        assert_eq!(
            read(r#"{"error":{"grpc_code":14,"message":"transport is closing"}}"#),
            WatchMessage::Refused("transport is closing".into())
        );
        // Unexpected: an error, not a message skipped (a change lost) or read as none.
        let unexpected = |text: &str| {
            wire::decode_line(text.as_bytes())
                .and_then(read_watch_message)
                .unwrap_err()
        };
        unexpected("{}");
        unexpected(r#"{"result":{"events":[{"kv":{"key":"YQ=="}}]}}"#);
        unexpected(&format!(
            r#"{{"result":{{{header},"events":[{{"kv":{{"key":"YQ=="}}}}]}}}}"#
        ));
        unexpected(&format!(r#"{{"result":{{{header},"created":"yes"}}}}"#));
    }

    /// Generous bounds for a busy machine: only hangs are caught.
    const HANG: Duration = Duration::from_secs(30);

    /// What a fake etcd does with a watch: the lines it writes (a `None` line: hold
    /// the connection, writing nothing more), or an endless line.
    #[derive(Clone)]
    enum Script {
        Lines(Vec<Option<String>>),
        /// This many bytes without a newline, then nothing more.
        EndlessLine(usize),
    }

    /// A fake etcd gateway on loopback: watches answered by `script`, other calls
    /// answered with `answers` (counted in `calls`), else never.
    struct FakeEtcd {
        etcd: Etcd,
        calls: std::sync::Arc<std::sync::atomic::AtomicUsize>,
        watch_requests: std::sync::Arc<std::sync::Mutex<Vec<Value>>>,
    }

    async fn fake_etcd(
        script: Script,
        answers: Option<&'static str>,
        timing: WatchTiming,
    ) -> FakeEtcd {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let watch_requests = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (counted, recorded) = (calls.clone(), watch_requests.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                let (script, counted, recorded) =
                    (script.clone(), counted.clone(), recorded.clone());
                tokio::spawn(async move {
                    let mut received = Vec::new();
                    loop {
                        // One request: its head, then as many bytes as it says.
                        let (path, body) = loop {
                            if let Some(end) = received.windows(4).position(|w| w == b"\r\n\r\n") {
                                let head = String::from_utf8_lossy(&received[..end]).to_lowercase();
                                let length: usize = head
                                    .lines()
                                    .find_map(|l| l.strip_prefix("content-length:"))
                                    .and_then(|l| l.trim().parse().ok())
                                    .unwrap_or(0);
                                if received.len() >= end + 4 + length {
                                    let path = head.split(' ').nth(1).unwrap_or("").to_owned();
                                    let body: Vec<u8> =
                                        received.drain(..end + 4 + length).skip(end + 4).collect();
                                    break (path, body);
                                }
                            }
                            let mut buf = [0u8; 4096];
                            match stream.read(&mut buf).await {
                                Ok(n @ 1..) => received.extend_from_slice(&buf[..n]),
                                _ => return,
                            }
                        };
                        if path != "/v3/watch" {
                            counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            let Some(answer) = answers else {
                                return hold(stream).await;
                            };
                            let reply = format!(
                                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{answer}",
                                answer.len()
                            );
                            if stream.write_all(reply.as_bytes()).await.is_err() {
                                return;
                            }
                            continue;
                        }
                        recorded
                            .lock()
                            .unwrap()
                            .push(serde_json::from_slice(&body).unwrap_or_default());
                        let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                                    transfer-encoding: chunked\r\n\r\n";
                        if stream.write_all(head.as_bytes()).await.is_err() {
                            return;
                        }
                        let chunk = |data: &[u8]| {
                            let mut chunk = format!("{:x}\r\n", data.len()).into_bytes();
                            chunk.extend_from_slice(data);
                            chunk.extend_from_slice(b"\r\n");
                            chunk
                        };
                        match script {
                            Script::Lines(lines) => {
                                for line in lines {
                                    let Some(line) = line else {
                                        return hold(stream).await;
                                    };
                                    let data = chunk(format!("{line}\n").as_bytes());
                                    if stream.write_all(&data).await.is_err() {
                                        return;
                                    }
                                }
                                let _ = stream.write_all(b"0\r\n\r\n").await;
                                return hold(stream).await;
                            }
                            Script::EndlessLine(bytes) => {
                                let piece = chunk(&[b'x'; 64 << 10]);
                                for _ in 0..bytes / (64 << 10) {
                                    if stream.write_all(&piece).await.is_err() {
                                        return;
                                    }
                                }
                                return hold(stream).await;
                            }
                        }
                    }
                });
            }
        });
        let backend = Backend::parse(&format!("etcd3+http://{address}")).unwrap();
        FakeEtcd {
            etcd: Etcd::new(backend).with_watch_timing(timing),
            calls,
            watch_requests,
        }
    }

    /// Keeps a connection open, saying nothing, until the client closes it.
    async fn hold(mut stream: tokio::net::TcpStream) {
        use tokio::io::AsyncReadExt;
        let mut buf = [0u8; 4096];
        while let Ok(1..) = stream.read(&mut buf).await {}
    }

    /// An answer to a range of nothing.
    const RANGE: &str = r#"{"header":{"revision":"7"},"count":"0"}"#;

    #[tokio::test]
    async fn a_txn_answer_etcd_would_not_write_is_an_error_not_a_claim_lost() {
        let create = |answer: &'static str| async move {
            let fake = fake_etcd(Script::Lines(vec![]), Some(answer), WatchTiming::default()).await;
            tokio::time::timeout(HANG, fake.etcd.create("/k", "v", 0))
                .await
                .expect("the fake answers")
        };
        // etcd's answer to a compare that failed: `succeeded` left out, as proto3 JSON does.
        assert!(!create(r#"{"header":{"revision":"7"}}"#).await.unwrap());
        assert!(
            create(r#"{"header":{"revision":"8"},"succeeded":true}"#)
                .await
                .unwrap()
        );
        for malformed in [
            r#"{"succeeded":true}"#,
            "{}",
            r#""ok""#,
            r#"{"header":{},"succeeded":1}"#,
        ] {
            let err = create(malformed).await.expect_err(malformed);
            assert!(
                matches!(&err, EtcdError::Unexpected { method, .. } if method == "kv/txn"),
                "{malformed}: {err}"
            );
        }
    }

    const CREATED: &str = r#"{"result":{"header":{"revision":"5"},"created":true}}"#;

    #[tokio::test]
    async fn a_watch_line_without_end_is_refused_at_the_bound_not_held() {
        // Four times the bound, then silence: held whole, it would never end.
        let fake = fake_etcd(
            Script::EndlessLine(4 * MAX_ANSWER),
            Some(RANGE),
            WatchTiming::default(),
        )
        .await;
        let watched = tokio::time::timeout(HANG, fake.etcd.watch("/k", false, 1, |_, _| {}))
            .await
            .expect("the watch ends at the bound");
        let err = watched.expect_err("an endless line is an error");
        assert!(err.to_string().contains("longer than 16 MiB"), "{err}");
    }

    #[tokio::test]
    async fn a_silent_watch_whose_member_does_not_answer_ends_as_broken() {
        let timing = WatchTiming {
            check_after: Duration::from_millis(300),
            max_silence: Duration::from_secs(3600),
        };
        // The watch is in place, then nothing: a hung etcd, a connection gone dead.
        let fake = fake_etcd(
            Script::Lines(vec![Some(CREATED.into()), None]),
            None,
            timing,
        )
        .await;
        let watched = tokio::time::timeout(HANG, fake.etcd.watch("/k", false, 1, |_, _| {}))
            .await
            .expect("the silent watch is noticed");
        let err = watched.expect_err("a member that does not answer breaks the watch");
        assert!(err.to_string().contains("did not answer a check"), "{err}");
        assert_eq!(
            fake.calls.load(std::sync::atomic::Ordering::Relaxed),
            1,
            "the member was checked once"
        );
    }

    #[tokio::test]
    async fn a_silent_watch_whose_member_answers_goes_on_until_it_is_silent_too_long() {
        let timing = WatchTiming {
            check_after: Duration::from_millis(200),
            max_silence: Duration::from_secs(2),
        };
        let fake = fake_etcd(
            Script::Lines(vec![Some(CREATED.into()), None]),
            Some(RANGE),
            timing,
        )
        .await;
        let watched = tokio::time::timeout(HANG, fake.etcd.watch("/k", false, 1, |_, _| {}))
            .await
            .expect("a stuck stream is noticed");
        assert_eq!(watched.unwrap(), WatchEnd::Silent);
        // Checked on the way (a check answered lately stands for the next ones).
        assert!(fake.calls.load(std::sync::atomic::Ordering::Relaxed) >= 1);
    }

    #[tokio::test]
    async fn a_watch_asks_for_progress_and_hands_it_on_with_the_changes() {
        let progress = r#"{"result":{"header":{"revision":"41"}}}"#;
        let change = r#"{"result":{"header":{"revision":"42"},"events":[{"kv":{"key":"aw==","value":"dg==","mod_revision":"42"}}]}}"#;
        let fake = fake_etcd(
            Script::Lines(vec![
                Some(CREATED.into()),
                Some(progress.into()),
                Some(change.into()),
            ]),
            Some(RANGE),
            WatchTiming::default(),
        )
        .await;
        let mut seen = Vec::new();
        let watched = tokio::time::timeout(
            HANG,
            fake.etcd
                .watch("/k", false, 3, |changes, last| seen.push((changes, last))),
        )
        .await
        .unwrap();
        assert_eq!(watched.unwrap(), WatchEnd::Closed);
        let put = Change::Put(KeyValue {
            key: "k".into(),
            value: "v".into(),
            lease: 0,
        });
        assert_eq!(seen, [(vec![], 41), (vec![put], 42)]);
        let requests = fake.watch_requests.lock().unwrap();
        assert_eq!(requests[0]["create_request"]["progress_notify"], true);
        assert_eq!(requests[0]["create_request"]["start_revision"], "3");
    }
}
