//! Plain tonic with no framework, what a Rust user would write instead of
//! oslo-service: the greeter's routes on hyper's HTTP/2 connections, one multi-threaded
//! process, an accept loop and nothing else. The gRPC baseline benches/http2.sh compares
//! `bench_grpc` with. Prints `port <n>`.

#[path = "greeter.rs"]
mod greeter;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;

#[tokio::main]
async fn main() {
    let routes = tonic::service::Routes::new(greeter::server());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    println!("port {}", listener.local_addr().expect("address").port());
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let service = TowerToHyperService::new(routes.clone());
        tokio::spawn(async move {
            let connection = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service);
            let _ = connection.await;
        });
    }
}
