//! `grpc`: a tonic service in worker processes that share one port, served by
//! [`oslo::wsgi::Server`], with the standard health service `grpc.health.v1.Health`.
//!
//! ```text
//! cargo run --bin grpc -- --config-file examples/grpc.conf
//! grpcurl -plaintext -proto examples/proto/greeter.proto -d '{"name":"ada"}' \
//!     127.0.0.1:50051 greeter.Greeter/SayHello
//! grpcurl -plaintext -proto examples/proto/greeter.proto \
//!     -d '{"name":"ada","count":5,"interval_ms":200}' 127.0.0.1:50051 greeter.Greeter/Greetings
//! grpc_health_probe -addr 127.0.0.1:50051      # SERVING once ready
//! kill -HUP <pid>    # reload: new workers first, then the old ones drain
//! kill -TERM <pid>   # graceful stop: streams in flight finish, health says NOT_SERVING
//! ```
//!
//! The service comes from examples/proto/greeter.proto, compiled by build.rs with
//! protox (no protoc). Its `[grpc]` options say where it listens and with how many
//! workers; the `[DEFAULT]` wsgi options tune the server, `[ssl]` turns on TLS.

use std::time::Duration;

use oslo::config::Port;
use oslo::wsgi::grpc::Health;
use tonic::service::Routes;
use tonic::{Request, Response, Status};

/// The code build.rs generated from examples/proto/greeter.proto.
mod proto {
    #![allow(missing_docs, clippy::pedantic)]
    tonic::include_proto!("greeter");
}

use proto::greeter_server::{self, GreeterServer};
use proto::{GreetingsRequest, HelloReply, HelloRequest};

#[oslo::options(group = "grpc", namespace = "grpc")]
struct GrpcOpts {
    /// Address the gRPC server listens on.
    #[opt(default = "127.0.0.1")]
    host: String,
    /// TCP port; 0 takes any free port (logged at start).
    #[opt(default = 50051)]
    port: Port,
    /// Worker processes; 1 serves in the launcher's own process.
    #[opt(default = 2, min = 1, max = 64)]
    workers: i64,
}

/// The most greetings one stream sends.
const MAX_GREETINGS: u32 = 100;

/// The longest wait between two greetings of a stream, so that a stream asked for
/// fits in `graceful_shutdown_timeout`'s default.
const MAX_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Clone, Copy, Default)]
struct Greeter;

fn reply(name: &str, index: u32) -> HelloReply {
    HelloReply {
        message: format!("hello, {name}"),
        pid: std::process::id(),
        worker: oslo::launcher::current_worker()
            .and_then(|worker| u32::try_from(worker.index()).ok()),
        index,
    }
}

/// A name is shown back, so its length is bounded.
fn checked_name(name: &str) -> Result<&str, Status> {
    if name.len() > 256 {
        return Err(Status::invalid_argument("a name is at most 256 bytes"));
    }
    Ok(name)
}

type GreetingStream =
    std::pin::Pin<Box<dyn futures_core::Stream<Item = Result<HelloReply, Status>> + Send>>;

#[tonic::async_trait]
impl greeter_server::Greeter for Greeter {
    async fn say_hello(
        &self,
        request: Request<HelloRequest>,
    ) -> Result<Response<HelloReply>, Status> {
        let name = checked_name(&request.get_ref().name)?;
        Ok(Response::new(reply(name, 0)))
    }

    type GreetingsStream = GreetingStream;

    /// The greetings asked for, each after the interval: a stream in flight when the
    /// server stops goes on to its end, within `graceful_shutdown_timeout`.
    async fn greetings(
        &self,
        request: Request<GreetingsRequest>,
    ) -> Result<Response<GreetingStream>, Status> {
        let asked = request.into_inner();
        let name = checked_name(&asked.name)?.to_owned();
        let count = asked.count.min(MAX_GREETINGS);
        let interval = Duration::from_millis(asked.interval_ms.into()).min(MAX_INTERVAL);
        tracing::info!(
            count,
            interval_ms = interval.as_millis(),
            "greetings started"
        );
        let stream = futures_util::stream::unfold(1, move |index| {
            let name = name.clone();
            async move {
                if index > count {
                    tracing::info!(count, "greetings sent");
                    return None;
                }
                if index > 1 {
                    tokio::time::sleep(interval).await;
                }
                Some((Ok(reply(&name, index)), index + 1))
            }
        });
        Ok(Response::new(Box::pin(stream)))
    }
}

#[oslo::main(options = [GrpcOpts])]
async fn main(conf: oslo::Config) -> oslo::Result<()> {
    let opts = conf.group::<GrpcOpts>()?;
    // SERVING once the process is ready, NOT_SERVING while it drains or stops.
    let health = Health::new().serves::<GreeterServer<Greeter>>();
    let routes = Routes::new(GreeterServer::new(Greeter)).add_service(health.into_server());
    // Bound here, where the parent and every worker pass: the parent binds, each worker
    // serves on the parent's socket.
    let server = oslo::wsgi::Server::builder("grpc", routes)
        .host(opts.host.as_str())
        .port(opts.port.get())
        .use_ssl(&conf)
        .bind()?;
    let workers = usize::try_from(opts.workers).unwrap_or(1);
    oslo::launch(conf, server, workers).await
}
