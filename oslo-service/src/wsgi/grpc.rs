//! gRPC on the HTTP server (feature `grpc`): [`Health`], the standard health service
//! `grpc.health.v1.Health`, answered from the process's lifecycle rather than set by
//! hand.
//!
//! A tonic service needs no adapter: tonic's `Routes` (and each generated
//! `…Server<T>`) is a tower service over HTTP bodies, so it is an
//! [`HttpApp`](super::HttpApp) as it is, and [`super::Server`] serves it in process or
//! in worker processes like any other app. Its requests carry [`super::Stopping`] in
//! their extensions (`request.extensions().get::<Stopping>()` in a tonic method), for a
//! long stream to end well before `graceful_shutdown_timeout`.
//!
//! ```
//! fn servable(_: impl oslo::wsgi::HttpApp) {}
//! // A generated server is an app; so are tonic's `Routes` of several.
//! servable(oslo::wsgi::grpc::Health::new().into_server());
//! ```

use std::collections::BTreeSet;
use std::pin::Pin;
use std::sync::Arc;

use futures_core::Stream;
use tonic::server::NamedService;
use tonic::{Request, Response, Status};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_server::{self, HealthServer};
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};

use super::Stopping;

/// The standard gRPC health service, whose answer follows the process: NOT_SERVING
/// until the launcher has reported it ready (every service started), SERVING then,
/// NOT_SERVING again once a stop with `graceful_shutdown_delay` begins or the server
/// that carries the request is stopping (SIGTERM, a reload, an upgrade, a worker
/// recycled at `max_requests`).
///
/// It answers for the server as a whole (the empty name) and for the services named
/// with [`Health::service`]; any other name is NOT_FOUND (`Check`) or SERVICE_UNKNOWN
/// (`Watch`). A `Watch` sends the status at once and at each change; when its server
/// stops it sends NOT_SERVING and ends, so that it never holds a stop.
///
/// ```no_run
/// # async fn demo(conf: oslo::Config) -> oslo::Result<()> {
/// use oslo::wsgi::grpc::Health;
///
/// // With tonic's `Routes`, beside the services it answers for:
/// // `Routes::new(GreeterServer::new(greeter)).add_service(health.into_server())`.
/// let health = Health::new().service("greeter.Greeter");
/// let server = oslo::wsgi::Server::builder("grpc", health.into_server())
///     .port(50051)
///     .bind()?;
/// oslo::launch(conf, server, 2).await
/// # }
/// ```
#[derive(Clone, Debug, Default)]
pub struct Health {
    services: Arc<BTreeSet<String>>,
}

impl Health {
    /// A health service that knows the server as a whole (the empty service name).
    pub fn new() -> Self {
        Health::default()
    }

    /// Answers for the gRPC service `name` (its full name, `package.Service`) too.
    #[must_use]
    pub fn service(mut self, name: impl Into<String>) -> Self {
        Arc::make_mut(&mut self.services).insert(name.into());
        self
    }

    /// Answers for the generated tonic service `S` too, by its name.
    #[must_use]
    pub fn serves<S: NamedService>(self) -> Self {
        self.service(S::NAME)
    }

    /// The tonic service to add to the `Routes` served.
    pub fn into_server(self) -> HealthServer<Health> {
        HealthServer::new(self)
    }

    fn knows(&self, name: &str) -> bool {
        name.is_empty() || self.services.contains(name)
    }
}

/// The status the process's lifecycle gives: serving only once ready, and before any
/// drain or stop.
fn serving_status(ready: bool, draining: bool, stopped: bool) -> ServingStatus {
    if ready && !draining && !stopped {
        ServingStatus::Serving
    } else {
        ServingStatus::NotServing
    }
}

fn current_status(stopping: Option<&Stopping>) -> ServingStatus {
    serving_status(
        crate::service::is_ready(),
        crate::service::is_draining(),
        stopping.is_some_and(Stopping::is_cancelled),
    )
}

fn response(status: ServingStatus) -> HealthCheckResponse {
    HealthCheckResponse {
        status: status.into(),
    }
}

/// What [`Health`]'s `Watch` streams.
pub type WatchStream = Pin<Box<dyn Stream<Item = Result<HealthCheckResponse, Status>> + Send>>;

/// One `Watch` call: the service it asked of, the server's stop, and what it last sent.
struct Watching {
    known: bool,
    stopping: Option<Stopping>,
    sent: Option<ServingStatus>,
    ended: bool,
}

impl Watching {
    /// The next message, once the status differs from the one last sent; `None` once the
    /// server stops.
    async fn next(&mut self) -> Option<HealthCheckResponse> {
        if self.ended {
            return None;
        }
        loop {
            // Listening before the status is read: a change in between is not missed.
            let changed = crate::service::lifecycle_changed();
            let mut changed = std::pin::pin!(changed);
            changed.as_mut().enable();
            let stopped = self.stopping.as_ref().is_some_and(Stopping::is_cancelled);
            let status = if self.known {
                current_status(self.stopping.as_ref())
            } else {
                ServingStatus::ServiceUnknown
            };
            if stopped {
                self.ended = true;
            }
            if self.sent != Some(status) {
                self.sent = Some(status);
                return Some(response(status));
            }
            if stopped {
                return None;
            }
            match &self.stopping {
                Some(stopping) => tokio::select! {
                    () = changed => {}
                    () = stopping.cancelled() => {}
                },
                None => changed.await,
            }
        }
    }
}

#[tonic::async_trait]
impl health_server::Health for Health {
    async fn check(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        if !self.knows(&request.get_ref().service) {
            return Err(Status::not_found("unknown service"));
        }
        let status = current_status(request.extensions().get::<Stopping>());
        Ok(Response::new(response(status)))
    }

    type WatchStream = WatchStream;

    async fn watch(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<WatchStream>, Status> {
        let watching = Watching {
            known: self.knows(&request.get_ref().service),
            stopping: request.extensions().get::<Stopping>().cloned(),
            sent: None,
            ended: false,
        };
        let stream = futures_util::stream::unfold(watching, |mut watching| async move {
            let message = watching.next().await?;
            Some((Ok(message), watching))
        });
        Ok(Response::new(Box::pin(stream)))
    }
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt;
    use tokio_util::sync::CancellationToken;
    use tonic_health::pb::health_server::Health as _;

    use super::*;

    #[test]
    fn serving_only_once_ready_and_before_any_drain_or_stop() {
        use ServingStatus::{NotServing, Serving};
        let cases = [
            (false, false, false, NotServing),
            (true, false, false, Serving),
            (true, true, false, NotServing),
            (true, false, true, NotServing),
            (false, true, true, NotServing),
        ];
        for (ready, draining, stopped, expected) in cases {
            assert_eq!(
                serving_status(ready, draining, stopped),
                expected,
                "ready {ready}, draining {draining}, stopped {stopped}"
            );
        }
    }

    fn request(service: &str, stopping: &CancellationToken) -> Request<HealthCheckRequest> {
        let mut request = Request::new(HealthCheckRequest {
            service: service.to_owned(),
        });
        request
            .extensions_mut()
            .insert(Stopping::new(stopping.clone()));
        request
    }

    fn status(message: &HealthCheckResponse) -> ServingStatus {
        ServingStatus::try_from(message.status).expect("a known status")
    }

    #[tokio::test]
    async fn a_watch_sends_not_serving_and_ends_when_its_server_stops() {
        crate::service::mark_ready();
        let health = Health::new().service("greeter.Greeter");
        let stopping = CancellationToken::new();

        let checked = health.check(request("", &stopping)).await.expect("known");
        assert_eq!(status(checked.get_ref()), ServingStatus::Serving);
        let unknown = health.check(request("nope.Nope", &stopping)).await;
        assert_eq!(unknown.expect_err("unknown").code(), tonic::Code::NotFound);

        let mut watch = health
            .watch(request("greeter.Greeter", &stopping))
            .await
            .expect("known")
            .into_inner();
        let first = watch.next().await.expect("a status").expect("ok");
        assert_eq!(status(&first), ServingStatus::Serving);
        let mut elsewhere = health
            .watch(request("nope.Nope", &stopping))
            .await
            .expect("a watch of an unknown service is not refused")
            .into_inner();
        let unknown = elsewhere.next().await.expect("a status").expect("ok");
        assert_eq!(status(&unknown), ServingStatus::ServiceUnknown);

        stopping.cancel();
        let last = watch.next().await.expect("a status").expect("ok");
        assert_eq!(status(&last), ServingStatus::NotServing);
        assert!(watch.next().await.is_none(), "the watch ends at the stop");
        assert!(elsewhere.next().await.is_none(), "every watch ends");

        let checked = health.check(request("", &stopping)).await.expect("known");
        assert_eq!(status(checked.get_ref()), ServingStatus::NotServing);
    }
}
