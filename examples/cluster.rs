//! `cluster`: one binary started on several hosts (or several times on one machine)
//! that share a periodic task through etcd: `purge_expired` runs once per period in the
//! whole cluster, on whichever host claims the period first; the others skip it. A
//! second, local task shows the rest of `oslo::coordination`: who leads the group, and
//! which work items this host owns on the hash ring.
//!
//! ```text
//! etcd --data-dir /tmp/etcd &     # Debian: apt-get install etcd-server
//! OS_COORDINATION__MEMBER_ID=host-a cargo run --bin cluster -- --config-file examples/cluster.conf &
//! OS_COORDINATION__MEMBER_ID=host-b cargo run --bin cluster -- --config-file examples/cluster.conf &
//! OS_COORDINATION__MEMBER_ID=host-c cargo run --bin cluster -- --config-file examples/cluster.conf &
//! ```
//!
//! With `[cluster] workers = N` each host runs N worker processes: the parent is the
//! host's one member, and the cluster task still runs once per period in all.

use oslo::prelude::*;

/// The options of the `[cluster]` group.
#[oslo::options(group = "cluster", namespace = "cluster")]
struct ClusterOpts {
    /// Worker processes per host; 0 runs the service in the launcher's own process.
    #[opt(default = 0, min = 0)]
    workers: u32,
    /// Work items the hosts share on the hash ring.
    #[opt(default = ["volume-1", "volume-2", "volume-3", "volume-4", "volume-5", "volume-6"])]
    items: Vec<String>,
}

/// Purges once per period in the cluster, and reports its share of the work.
#[oslo::service(name = "cluster")]
struct Cluster;

#[oslo::service]
impl Cluster {
    /// Runs on one host per period: the rows are purged once, not once per host.
    #[periodic_task(spacing = "1s", scope = "cluster", run_immediately = true)]
    async fn purge_expired(&self) {
        tracing::info!(
            period = oslo::coordination::claimed_period().unwrap_or_default(),
            member = %member(),
            "cluster task ran: purged expired rows"
        );
    }

    /// Runs on every host: who leads, and which items this host owns.
    #[periodic_task(spacing = "5s", run_immediately = true)]
    async fn report_share(&self, cx: &Context) -> oslo::Result<()> {
        let Some(coordinator) = oslo::coordination::current() else {
            return Ok(());
        };
        let items = cx.conf().group::<ClusterOpts>()?.items.clone();
        let ring = coordinator
            .partitioner(coordinator.group())
            .await
            .map_err(oslo::Error::other)?;
        let mine: Vec<&String> = items
            .iter()
            .filter(|item| ring.belongs_to_self(item))
            .collect();
        tracing::info!(
            member = coordinator.member_id(),
            leader = coordinator.is_leader(coordinator.group()),
            items = ?mine,
            "share of the work"
        );
        Ok(())
    }
}

fn member() -> String {
    oslo::coordination::current().map_or_else(|| "<local>".to_owned(), |c| c.member_id().to_owned())
}

#[oslo::main(options = [ClusterOpts])]
async fn main(conf: oslo::Config) -> oslo::Result<()> {
    let workers = conf.group::<ClusterOpts>()?.workers;
    if workers == 0 {
        return oslo::ServiceLauncher::new(conf)
            .launch_service(Cluster)
            .run()
            .await;
    }
    oslo::ProcessLauncher::new(conf)
        .launch_service(Cluster, workers as usize)
        .run()
        .await
}
