//! The exporter: one task per process that takes finished spans off a bounded queue
//! and posts them in batches to the collector, never awaited by what made them.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HOST};
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};

use super::proto;
use super::queue::{Encoded, Queue};
use super::settings::Settings;

/// How long a span waits in the queue at most before it is sent (a batch not full).
const INTERVAL: Duration = Duration::from_secs(1);
/// How long one POST may take, connection included; its spans are dropped after.
const POST_TIMEOUT: Duration = Duration::from_secs(3);
/// How much of the collector's answer is read (to keep the connection), at most.
const MAX_ANSWER: usize = 64 * 1024;

/// The exporter, made at the process's start and run once its runtime is up.
pub(super) struct Exporter {
    settings: Settings,
    program: String,
    queue: Arc<Queue>,
    flushes: mpsc::Receiver<oneshot::Sender<()>>,
    connection: Option<SendRequest<Full<Bytes>>>,
    resource: Option<proto::Resource>,
    scope: proto::InstrumentationScope,
    /// The last export failed: the next failure is not logged again.
    failing: bool,
}

impl Exporter {
    pub(super) fn new(
        settings: Settings,
        program: &str,
        queue: Arc<Queue>,
        flushes: mpsc::Receiver<oneshot::Sender<()>>,
    ) -> Self {
        Exporter {
            settings,
            program: program.to_owned(),
            queue,
            flushes,
            connection: None,
            resource: None,
            scope: proto::InstrumentationScope {
                name: "oslo-service".to_owned(),
                version: env!("CARGO_PKG_VERSION").to_owned(),
            },
            failing: false,
        }
    }

    /// Sends what is queued when a batch is full, each second, and when a flush
    /// asks (answering it once sent).
    pub(super) async fn run(mut self, worker: Option<(String, usize)>) {
        self.resource = Some(resource(&self.settings, &self.program, worker));
        let mut tick = tokio::time::interval(INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut queued = Encoded::default();
        loop {
            let (flushed, staged_too) = tokio::select! {
                biased;
                Some(done) = self.flushes.recv() => (Some(done), true),
                () = self.queue.batch_ready() => (None, false),
                _ = tick.tick() => (None, true),
            };
            // A full batch has what to send: the stages, that the threads serving
            // requests write to, are left to them until the tick.
            if staged_too && let Err(full) = self.queue.publish_staged() {
                crate::metrics::otel_dropped("queue_full", full.dropped as u64);
            }
            self.queue.take(&mut queued);
            self.export_all(&mut queued).await;
            if let Some(done) = flushed {
                let _ = done.send(());
            }
        }
    }

    /// Sends `queued` in its batches, leaving it empty.
    async fn export_all(&mut self, queued: &mut Encoded) {
        let not_made = super::take_not_made();
        if not_made > 0 {
            crate::metrics::otel_dropped("collector_down", not_made);
        }
        if queued.is_empty() {
            // While the collector is down no span is made: an empty export each tick
            // tells when it is back.
            if self.failing {
                let resource = self.resource.get_or_insert_with(proto::Resource::default);
                let empty = super::encode::export_request(resource, &self.scope, &[]);
                self.export(Bytes::from(empty), 0).await;
            }
            return;
        }
        let batches: Vec<(Bytes, u64)> = {
            let resource = self.resource.get_or_insert_with(proto::Resource::default);
            queued
                .batches()
                .map(|(batch, count)| {
                    let body = super::encode::export_request(resource, &self.scope, batch);
                    (Bytes::from(body), count as u64)
                })
                .collect()
        };
        queued.clear();
        for (body, count) in batches {
            self.export(body, count).await;
        }
    }

    /// Posts one export body of `count` spans.
    async fn export(&mut self, body: Bytes, count: u64) {
        let posted = match tokio::time::timeout(POST_TIMEOUT, self.post(body)).await {
            Ok(posted) => posted,
            Err(_) => Err("no answer in time".to_owned()),
        };
        match posted {
            Ok(()) => {
                crate::metrics::otel_exported(count);
                if std::mem::take(&mut self.failing) {
                    super::collector_down(false);
                    tracing::info!("spans reach the collector again");
                }
            }
            Err(reason) => {
                self.connection = None;
                super::collector_down(true);
                crate::metrics::otel_dropped("export_failed", count);
                // Said once per outage; the headers are never shown.
                if !std::mem::replace(&mut self.failing, true) {
                    tracing::warn!(
                        collector = %self.settings.authority,
                        %reason,
                        "cannot send spans to the collector, dropping them"
                    );
                }
            }
        }
    }

    /// One POST, on the connection kept from the last one when it is still open (once
    /// more on a new connection if that one turns out closed).
    async fn post(&mut self, body: Bytes) -> Result<(), String> {
        let kept = self.connection.take();
        let reused = kept.is_some();
        let mut sender = match kept {
            Some(mut sender) => match sender.ready().await {
                Ok(()) => sender,
                Err(_) => self.connect().await?,
            },
            None => self.connect().await?,
        };
        let response = match sender.send_request(self.request(body.clone())?).await {
            Ok(response) => response,
            Err(_) if reused => {
                sender = self.connect().await?;
                sender
                    .send_request(self.request(body)?)
                    .await
                    .map_err(|err| err.to_string())?
            }
            Err(err) => return Err(err.to_string()),
        };
        let status = response.status();
        // Read whole, so that the connection can carry the next POST.
        let read = Limited::new(response.into_body(), MAX_ANSWER)
            .collect()
            .await
            .is_ok();
        if !status.is_success() {
            return Err(format!("the collector answered {status}"));
        }
        if read {
            self.connection = Some(sender);
        }
        Ok(())
    }

    fn request(&self, body: Bytes) -> Result<http::Request<Full<Bytes>>, String> {
        let mut request = http::Request::post(self.settings.target.as_str())
            .header(HOST, self.settings.authority.as_str())
            .header(CONTENT_TYPE, "application/x-protobuf")
            .body(Full::new(body))
            .map_err(|err| err.to_string())?;
        for (name, value) in &self.settings.headers {
            request.headers_mut().append(name.clone(), value.clone());
        }
        Ok(request)
    }

    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, String> {
        let address = (self.settings.host.as_str(), self.settings.port);
        let stream = TcpStream::connect(address)
            .await
            .map_err(|err| err.to_string())?;
        let _ = stream.set_nodelay(true);
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|err| err.to_string())?;
        tokio::spawn(async move {
            // Ends when the connection closes; a POST's error shows in its answer.
            let _ = connection.await;
        });
        Ok(sender)
    }
}

/// What every span of this process shares: the service, the host, the process and,
/// in a worker, its index.
fn resource(
    settings: &Settings,
    program: &str,
    worker: Option<(String, usize)>,
) -> proto::Resource {
    use proto::{KeyValue, Value};
    let service = settings.service_name.as_deref().unwrap_or(program);
    let host = rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned();
    let mut attributes = vec![
        KeyValue::new("service.name", Value::String(service.to_owned())),
        KeyValue::new("host.name", Value::String(host)),
        KeyValue::new("process.pid", Value::Int(i64::from(std::process::id()))),
    ];
    if let Some((service, index)) = worker {
        let index = i64::try_from(index).unwrap_or(i64::MAX);
        attributes.push(KeyValue::new("oslo.worker.index", Value::Int(index)));
        attributes.push(KeyValue::new("oslo.worker.service", Value::String(service)));
    }
    proto::Resource { attributes }
}
