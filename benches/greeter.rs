//! The unary greeting both gRPC bench servers answer (`bench_grpc`, ours; `bench_tonic`,
//! plain tonic on hyper), so that the two differ by the server alone. Included by each
//! with `#[path]`; the messages and the trait come from the grpc example's proto,
//! compiled by build.rs.

/// The code build.rs generated from examples/proto/greeter.proto.
pub mod proto {
    #![allow(missing_docs, clippy::pedantic)]
    tonic::include_proto!("greeter");
}

use proto::greeter_server::{Greeter, GreeterServer};
use proto::{GreetingsRequest, HelloReply, HelloRequest};
use tonic::{Request, Response, Status};

/// Answers `SayHello`; the streaming method is not measured.
#[derive(Clone, Copy, Default)]
pub struct Bench;

type NoStream =
    std::pin::Pin<Box<dyn futures_core::Stream<Item = Result<HelloReply, Status>> + Send>>;

#[tonic::async_trait]
impl Greeter for Bench {
    async fn say_hello(
        &self,
        request: Request<HelloRequest>,
    ) -> Result<Response<HelloReply>, Status> {
        Ok(Response::new(HelloReply {
            message: format!("hello, {}", request.get_ref().name),
            ..HelloReply::default()
        }))
    }

    type GreetingsStream = NoStream;

    async fn greetings(
        &self,
        _request: Request<GreetingsRequest>,
    ) -> Result<Response<NoStream>, Status> {
        Err(Status::unimplemented("not measured"))
    }
}

/// The service, ready to serve.
pub fn server() -> GreeterServer<Bench> {
    GreeterServer::new(Bench)
}
