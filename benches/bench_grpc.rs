//! The gRPC server benches/http2.sh measures: the greeter's unary method served by
//! `oslo::wsgi::Server` in `[bench] workers` worker processes (default 2), as
//! `bench_tonic` serves it in one plain process. Prints `port <n>` once bound.

#[path = "greeter.rs"]
mod greeter;

// One thread per worker on the multi-threaded scheduler, as bench_http.
#[oslo::main(flavor = "multi_thread", worker_threads = 1)]
async fn main(conf: oslo::Config) -> oslo::Result<()> {
    let routes = tonic::service::Routes::new(greeter::server());
    let server = oslo::wsgi::Server::builder("bench", routes)
        .host("127.0.0.1")
        .port(conf.get_or("bench", "port", 0_u16)?)
        .bind()?;
    if oslo::launcher::current_worker().is_none() {
        if let Some(addr) = server.local_addr() {
            println!("port {}", addr.port());
        }
    }
    let workers = conf.get_or("bench", "workers", 2_usize)?;
    oslo::launch(conf, server, workers).await
}
