//! Recipe: a periodic task in the same worker processes as the HTTP server, sharing the
//! application's state.
//!
//! ```text
//! cargo run --bin tally -- --config-file examples/tally.conf
//! curl 127.0.0.1:8791/hit     # counted in memory by the worker that answers
//! curl 127.0.0.1:8791/tally   # that worker's counts: hits, and what its task flushed
//! ```
//!
//! One `#[oslo::service]` owns the `oslo::wsgi::Server` and has the periodic task: its
//! `start` and `reset` hooks hand over to the server's, so the server accepts in every
//! worker as it would on its own, and the task runs beside it in each worker, every
//! `[tally] flush_every` seconds at most, reading what the routes wrote. The server's
//! stop and drain are the service's own (the shutdown token both wait on), so SIGTERM,
//! SIGHUP and recycling treat the pair as one.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use oslo::prelude::*;

#[oslo::options(group = "tally", namespace = "tally")]
struct TallyOpts {
    /// Address the API listens on.
    #[opt(default = "127.0.0.1")]
    host: String,
    /// TCP port; 0 takes any free port (logged at start).
    #[opt(default = 8791)]
    port: oslo::config::Port,
    /// Worker processes, each with its server and its flushing task.
    #[opt(default = 2, min = 1, max = 64)]
    workers: i64,
}

/// What the routes count and the periodic task flushes, in one worker.
#[derive(Debug, Default)]
struct Counts {
    /// Hits since the last flush.
    pending: AtomicU64,
    /// Hits the task has flushed so far.
    flushed: AtomicU64,
}

/// The HTTP server and its periodic task, one service.
#[oslo::service(periodic_interval_max = "1s", periodic_fuzzy_delay = "0s")]
struct Tally {
    server: oslo::wsgi::Server<Router>,
    counts: Arc<Counts>,
}

#[oslo::service]
impl Tally {
    /// The server starts accepting in this worker.
    async fn start(&self, cx: &Context) -> oslo::Result<()> {
        self.server.start(cx).await
    }

    /// The server re-reads its options on a `mutate` reload.
    async fn reset(&self, cx: &Context) -> oslo::Result<()> {
        self.server.reset(cx).await
    }

    /// Moves the hits counted since the last run into the flushed total, as a service
    /// would write them to a database.
    #[periodic_task(spacing = "1s")]
    async fn flush(&self, _cx: &Context) -> oslo::Result<()> {
        let hits = self.counts.pending.swap(0, Ordering::AcqRel);
        if hits > 0 {
            let total = self.counts.flushed.fetch_add(hits, Ordering::AcqRel) + hits;
            tracing::info!(hits, total, "tally flushed");
        }
        Ok(())
    }
}

/// The routes, over the counts of the worker that serves them.
fn routes(counts: Arc<Counts>) -> Router {
    Router::new()
        .route(
            "/hit",
            get(|State(counts): State<Arc<Counts>>| async move {
                counts.pending.fetch_add(1, Ordering::AcqRel);
                "counted\n"
            }),
        )
        .route(
            "/tally",
            get(|State(counts): State<Arc<Counts>>| async move {
                format!(
                    "pid={} pending={} flushed={}\n",
                    std::process::id(),
                    counts.pending.load(Ordering::Acquire),
                    counts.flushed.load(Ordering::Acquire)
                )
            }),
        )
        .with_state(counts)
}

#[oslo::main(options = [TallyOpts])]
async fn main(conf: oslo::Config) -> oslo::Result<()> {
    let opts = conf.group::<TallyOpts>()?;
    // Made here, before the workers: each worker process starts with its own copy, and
    // its routes and its task share that one.
    let counts = Arc::new(Counts::default());
    let server = oslo::wsgi::Server::builder("tally-api", routes(Arc::clone(&counts)))
        .host(opts.host.as_str())
        .port(opts.port.get())
        .bind()?;
    let workers = usize::try_from(opts.workers).unwrap_or(1);
    oslo::launch(conf, Tally { server, counts }, workers).await
}
