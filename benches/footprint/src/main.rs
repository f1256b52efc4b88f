//! The service `benches/footprint.sh` measures: idle, in worker processes. Each worker,
//! once its service has started, sends `started <pid>` to the datagram socket named by
//! `BENCH_READY_SOCKET` (as `benches/bench_workers.rs` and `benches/py_workers.py` do).

use oslo::prelude::*;

/// Tells the bench it is up, then idles until stopped.
#[oslo::service(name = "idle")]
struct Idle;

#[oslo::service]
impl Idle {
    async fn start(&self, _cx: &Context) -> oslo::Result<()> {
        if let Some(path) = std::env::var_os("BENCH_READY_SOCKET") {
            let socket = std::os::unix::net::UnixDatagram::unbound()?;
            socket.send_to(format!("started {}", std::process::id()).as_bytes(), path)?;
        }
        Ok(())
    }
}

#[oslo::main]
async fn main(conf: oslo::Config) -> oslo::Result<()> {
    let workers = conf.get_or("bench", "workers", 4_usize)?;
    oslo::launch(conf, Idle, workers).await
}
