//! The framework's own metrics: one set per process, registered in the process's
//! registry the first time anything is recorded or scraped. Label values come from
//! short fixed lists (method, status class, cause) or from the program (service and
//! task names), never from a client, so that no client can grow a family; a gRPC
//! call's method, which a client names, is bounded in `grpc`.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

/// A family labelled by one name.
pub(super) type By<M> = Family<[(&'static str, String); 1], M>;
/// A family labelled by two.
pub(super) type ByTwo<M> = Family<[(&'static str, &'static str); 2], M>;
/// Histograms of durations, labelled by one name.
pub(super) type DurationsBy = Family<[(&'static str, String); 1], Histogram, fn() -> Histogram>;
/// A family labelled by a fixed cause.
pub(super) type ByCause<M> = Family<[(&'static str, &'static str); 1], M>;

/// The bounds of latency histograms, in seconds: Prometheus' client defaults.
const SECONDS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

fn seconds() -> Histogram {
    Histogram::new(SECONDS)
}

/// Which process of a host a registry is encoded for: the families that mean nothing
/// there (a parent serves no HTTP; a worker has no workers) are left out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Role {
    /// The parent of workers.
    Parent,
    /// One of them.
    Worker,
    /// A launcher without workers.
    Alone,
}

/// Families about the workers, which their parent records.
const OF_THE_POOL: [&str; 5] = [
    "oslo_workers_",
    "oslo_worker_restarts",
    "oslo_worker_recycles",
    "oslo_fork_rate_sleeps",
    "oslo_metrics_missed_workers",
];

/// Families about the configuration the host runs, which its top process records.
const OF_THE_TOP: [&str; 2] = ["oslo_reloads", "oslo_config_generation"];

/// Families about serving, which workers (or a launcher without them) record.
const OF_SERVING: [&str; 3] = ["oslo_http_", "oslo_grpc_", "oslo_periodic_task_"];

impl Role {
    /// Whether family `name` is shown for this role.
    pub(super) fn shows(self, name: &str) -> bool {
        let among = |prefixes: &[&str]| prefixes.iter().any(|p| name.starts_with(p));
        match self {
            Role::Parent => !among(&OF_SERVING),
            Role::Worker => !among(&OF_THE_POOL) && !among(&OF_THE_TOP),
            Role::Alone => !among(&OF_THE_POOL),
        }
    }
}

/// Every metric the framework records in one process.
#[derive(Debug, Default)]
pub(super) struct Families {
    pub(super) http: Http,
    pub(super) grpc: Grpc,
    pub(super) periodic: Periodic,
    pub(super) launcher: Launcher,
    pub(super) coordination: Coordination,
    pub(super) scrape: Scrape,
    pub(super) otel: Otel,
}

#[derive(Debug)]
pub(super) struct Http {
    pub(super) requests: ByTwo<Counter>,
    pub(super) duration: Histogram,
    pub(super) in_flight: Gauge,
    pub(super) open: Gauge,
    pub(super) idle: Gauge,
    pub(super) received: Counter,
    pub(super) sent: Counter,
    pub(super) refused: ByCause<Counter>,
    pub(super) cut: ByCause<Counter>,
}

impl Default for Http {
    fn default() -> Self {
        Http {
            requests: Family::default(),
            duration: seconds(),
            in_flight: Gauge::default(),
            open: Gauge::default(),
            idle: Gauge::default(),
            received: Counter::default(),
            sent: Counter::default(),
            refused: Family::default(),
            cut: Family::default(),
        }
    }
}

#[derive(Debug)]
pub(super) struct Grpc {
    pub(super) requests: Family<[(&'static str, String); 2], Counter>,
    pub(super) duration: DurationsBy,
}

impl Default for Grpc {
    fn default() -> Self {
        Grpc {
            requests: Family::default(),
            duration: Family::new_with_constructor(seconds),
        }
    }
}

#[derive(Debug)]
pub(super) struct Periodic {
    pub(super) runs: By<Counter>,
    pub(super) failures: By<Counter>,
    pub(super) skipped: By<Counter>,
    pub(super) duration: DurationsBy,
}

impl Default for Periodic {
    fn default() -> Self {
        Periodic {
            runs: Family::default(),
            failures: Family::default(),
            skipped: Family::default(),
            duration: Family::new_with_constructor(seconds),
        }
    }
}

#[derive(Debug, Default)]
pub(super) struct Launcher {
    pub(super) wanted: By<Gauge>,
    pub(super) alive: By<Gauge>,
    pub(super) ready: By<Gauge>,
    pub(super) restarts: Family<[(&'static str, String); 2], Counter>,
    pub(super) recycles: Family<[(&'static str, String); 2], Counter>,
    pub(super) reloads: ByCause<Counter>,
    pub(super) generation: Gauge,
    pub(super) fork_rate_sleeps: Counter,
}

#[derive(Debug, Default)]
pub(super) struct Coordination {
    pub(super) claims: ByCause<Counter>,
    pub(super) renewals: Counter,
    pub(super) losses: Counter,
    pub(super) errors: Counter,
    pub(super) leader: By<Gauge>,
}

#[derive(Debug, Default)]
pub(super) struct Scrape {
    pub(super) missed: Counter,
}

#[derive(Debug, Default)]
pub(super) struct Otel {
    pub(super) exported: Counter,
    pub(super) dropped: ByCause<Counter>,
}

impl Families {
    /// Registers every family in `registry`; the metrics are shared, so recording in
    /// `self` shows in the registry's encoding.
    pub(super) fn register(&self, registry: &mut Registry) {
        let Families {
            http,
            grpc,
            periodic,
            launcher,
            coordination,
            scrape,
            otel,
        } = self;
        let oslo = registry.sub_registry_with_prefix("oslo");
        let r = oslo.sub_registry_with_prefix("http");
        r.register(
            "requests",
            "HTTP requests answered, by method and status class",
            http.requests.clone(),
        );
        r.register_with_unit(
            "request_duration",
            "Time from a request's head to the end of its response",
            Unit::Seconds,
            http.duration.clone(),
        );
        r.register(
            "requests_in_flight",
            "HTTP requests being served",
            http.in_flight.clone(),
        );
        r.register(
            "connections_open",
            "HTTP client connections open",
            http.open.clone(),
        );
        r.register(
            "connections_idle",
            "HTTP client connections open and waiting for a request",
            http.idle.clone(),
        );
        r.register_with_unit(
            "received",
            "Bytes of request bodies read",
            Unit::Bytes,
            http.received.clone(),
        );
        r.register_with_unit(
            "sent",
            "Bytes of response bodies written",
            Unit::Bytes,
            http.sent.clone(),
        );
        r.register(
            "refused_requests",
            "Requests answered by the server without the application, by cause",
            http.refused.clone(),
        );
        r.register(
            "cut_connections",
            "Client connections closed for sending nothing useful in time, by cause",
            http.cut.clone(),
        );

        let r = oslo.sub_registry_with_prefix("grpc");
        r.register(
            "requests",
            "gRPC calls answered, by method and status code; a method answered UNIMPLEMENTED, not shaped like a method's path, or past the first 128 of a process is 'other'",
            grpc.requests.clone(),
        );
        r.register_with_unit(
            "request_duration",
            "Time from a gRPC call's head to the end of its response, by method",
            Unit::Seconds,
            grpc.duration.clone(),
        );

        let r = oslo.sub_registry_with_prefix("periodic_task");
        r.register("runs", "Runs of a periodic task", periodic.runs.clone());
        r.register(
            "failures",
            "Runs of a periodic task that failed or timed out",
            periodic.failures.clone(),
        );
        r.register(
            "skipped",
            "Periods of a cluster-scoped periodic task that another host ran, or that could not be claimed",
            periodic.skipped.clone(),
        );
        r.register_with_unit(
            "duration",
            "How long a periodic task's runs took",
            Unit::Seconds,
            periodic.duration.clone(),
        );

        let r = oslo.sub_registry_with_prefix("workers");
        r.register(
            "wanted",
            "Worker processes a service should have",
            launcher.wanted.clone(),
        );
        r.register(
            "alive",
            "Worker processes of a service that run",
            launcher.alive.clone(),
        );
        r.register(
            "ready",
            "Worker processes of a service whose services have started",
            launcher.ready.clone(),
        );
        oslo.register(
            "worker_restarts",
            "Worker processes replaced, by service and reason",
            launcher.restarts.clone(),
        );
        oslo.register(
            "worker_recycles",
            "Worker processes replaced new-before-old, by service and reason (max_requests, max_worker_lifetime, max_worker_memory)",
            launcher.recycles.clone(),
        );
        oslo.register(
            "reloads",
            "SIGHUP reloads, by outcome (accepted or refused)",
            launcher.reloads.clone(),
        );
        oslo.register(
            "config_generation",
            "How many reloads of the configuration were accepted since start",
            launcher.generation.clone(),
        );
        oslo.register(
            "fork_rate_sleeps",
            "Times the launcher waited before starting a worker, because workers died too fast",
            launcher.fork_rate_sleeps.clone(),
        );

        let r = oslo.sub_registry_with_prefix("coordination");
        r.register(
            "claims",
            "Periods of cluster-scoped tasks claimed on etcd, by outcome (won, lost, failed)",
            coordination.claims.clone(),
        );
        r.register(
            "lease_renewals",
            "Renewals of this host's etcd lease",
            coordination.renewals.clone(),
        );
        r.register(
            "lease_losses",
            "Times this host's etcd lease expired or was revoked",
            coordination.losses.clone(),
        );
        r.register(
            "etcd_errors",
            "Calls to etcd that failed",
            coordination.errors.clone(),
        );
        r.register(
            "leader",
            "1 while this host leads the group",
            coordination.leader.clone(),
        );

        oslo.register(
            "metrics_missed_workers",
            "Workers that did not answer a scrape in time, shown as they last answered",
            scrape.missed.clone(),
        );

        let r = oslo.sub_registry_with_prefix("otel");
        r.register(
            "spans_exported",
            "Spans the OpenTelemetry collector accepted",
            otel.exported.clone(),
        );
        r.register(
            "spans_dropped",
            "Spans not sent, by reason (queue_full, export_failed, collector_down, stopped)",
            otel.dropped.clone(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_calls_show_where_http_requests_do() {
        for name in ["oslo_grpc_requests", "oslo_grpc_request_duration_seconds"] {
            assert!(!Role::Parent.shows(name), "{name}");
            assert!(Role::Worker.shows(name), "{name}");
            assert!(Role::Alone.shows(name), "{name}");
        }
    }
}
