//! Recipe: an HTTP API and a background service with a periodic task, in one program.
//!
//! ```text
//! cargo run --bin inventory -- --config-file examples/inventory.conf
//! curl 127.0.0.1:8790/items          # served by one of [inventory] api_workers workers
//! curl 127.0.0.1:8790/healthcheck    # oslo.middleware's health check
//! curl 127.0.0.1:9464/metrics        # [metrics]: the host's, every worker's
//! ```
//!
//! The API (an axum `Router` behind the health check) runs in `api_workers` worker
//! processes sharing one port; the background service runs in one worker of its own,
//! where its periodic task `Refresher.refresh` runs every `refresh_every` (at most;
//! `periodic_interval_max` and `periodic_fuzzy_delay` in `#[oslo::service]` shape the
//! schedule). One `ProcessLauncher` starts both, stops both on SIGTERM and reloads both
//! on SIGHUP; SIGTTIN and SIGTTOU add and remove API workers, never a second refresher
//! (it is launched with the bounds `1..=1`). Logs name each task `Struct.method`. The
//! API counts the items it lists in a metric of its own, `inventory_items_listed_total`,
//! which the host's scrape shows for each worker.

use std::sync::LazyLock;

use axum::Router;
use axum::routing::get;
use oslo::metrics::prometheus_client::metrics::counter::Counter;
use oslo::prelude::*;

/// Items listed by this process, registered the first time one is.
static LISTED: LazyLock<Counter> = LazyLock::new(|| {
    let listed = Counter::default();
    if let Err(err) = oslo::metrics::register(
        "inventory_items_listed",
        "Items the API listed",
        listed.clone(),
    ) {
        tracing::warn!(error = %err, "cannot register inventory_items_listed");
    }
    listed
});

#[oslo::options(group = "inventory", namespace = "inventory")]
struct InventoryOpts {
    /// Address the API listens on.
    #[opt(default = "127.0.0.1")]
    host: String,
    /// TCP port; 0 takes any free port (logged at start).
    #[opt(default = 8790)]
    port: oslo::config::Port,
    /// Worker processes of the API.
    #[opt(default = 2, min = 1, max = 64)]
    api_workers: i64,
    /// The items the API lists.
    #[opt(default = ["apple", "pear"])]
    items: Vec<String>,
}

/// The background service: refreshes the inventory on a schedule.
#[oslo::service(periodic_interval_max = "60s", periodic_fuzzy_delay = "0s")]
struct Refresher;

#[oslo::service]
impl Refresher {
    async fn start(&self, _cx: &Context) -> oslo::Result<()> {
        tracing::info!("refresher started");
        Ok(())
    }

    /// Runs every second, the first time at start.
    #[periodic_task(spacing = "1s", run_immediately = true)]
    async fn refresh(&self, cx: &Context) -> oslo::Result<()> {
        let count = cx.conf().group::<InventoryOpts>()?.items.len();
        tracing::info!(count, "inventory refreshed");
        Ok(())
    }
}

/// The API's routes.
fn routes(items: Vec<String>) -> Router {
    Router::new().route(
        "/items",
        get(move || {
            let items = items.clone();
            async move {
                LISTED.inc_by(items.len() as u64);
                items.join("\n") + "\n"
            }
        }),
    )
}

#[oslo::main(options = [InventoryOpts], flavor = "multi_thread", worker_threads = 1)]
async fn main(conf: oslo::Config) -> oslo::Result<()> {
    let opts = conf.group::<InventoryOpts>()?;
    let health = oslo::wsgi::Healthcheck::new();
    let api = oslo::wsgi::Server::builder("inventory-api", health.wrap(routes(opts.items.clone())))
        .host(opts.host.as_str())
        .port(opts.port.get())
        .bind()?;
    let api_workers = usize::try_from(opts.api_workers).unwrap_or(1);
    oslo::ProcessLauncher::new(conf)
        .launch_service(api, api_workers)
        // The refresher runs exactly once: SIGTTIN and SIGTTOU change the API's workers only.
        .launch_service_bounded(Refresher, 1, 1..=1)
        .run()
        .await
}
