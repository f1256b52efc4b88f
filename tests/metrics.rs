//! `[metrics]`: one scrape over HTTP for a host of worker processes, read by an
//! independent parser (the strict OpenMetrics parser of Python's prometheus_client,
//! installed from PyPI on first use, and its parser of the text format 0.0.4 for a
//! scraper that does not ask for OpenMetrics), under traffic, across a killed worker,
//! with a worker that does not answer, and against clients that send nothing useful.

mod support;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use rustix::process::Signal;
use support::load::Load;
use support::{Service, Stdout, python};

const API: &str = env!("CARGO_BIN_EXE_api");
const INVENTORY: &str = env!("CARGO_BIN_EXE_inventory");

/// One sample of a scrape, as the parser read it.
#[derive(Debug, Clone)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// A scrape, parsed.
struct Scrape(Vec<Sample>);

impl Scrape {
    /// The samples named `name` whose labels include every one of `labels`.
    fn matching<'a>(
        &'a self,
        name: &'a str,
        labels: &'a [(&str, &str)],
    ) -> impl Iterator<Item = &'a Sample> {
        self.0.iter().filter(move |sample| {
            sample.name == name
                && labels
                    .iter()
                    .all(|(k, v)| sample.labels.get(*k).map(String::as_str) == Some(*v))
        })
    }

    fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.matching(name, labels).map(|s| s.value).sum()
    }

    /// The one sample of `name` with exactly these labels.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let found: Vec<&Sample> = self
            .matching(name, labels)
            .filter(|s| s.labels.len() == labels.len())
            .collect();
        assert_eq!(found.len(), 1, "{name} {labels:?}: {found:?}");
        found[0].value
    }

    /// The `worker` labels seen on `name`.
    fn workers(&self, name: &str) -> Vec<String> {
        let mut workers: Vec<String> = self
            .matching(name, &[])
            .filter_map(|s| s.labels.get("worker").cloned())
            .collect();
        workers.sort();
        workers.dedup();
        workers
    }
}

/// The port of the metrics endpoint, from the log line that says where it listens.
fn metrics_port(service: &Service) -> u16 {
    support::metrics_port(&service.wait_for_log("serving metrics at http://127.0.0.1:", 1))
}

/// The `Accept` header Prometheus sends.
const PROMETHEUS_ACCEPT: &str = "Accept: application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1\r\n";

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
const TEXT_0_0_4: &str = "text/plain; version=0.0.4; charset=utf-8";

/// `GET /metrics` with extra header lines.
fn get_metrics(port: u16, headers: &str) -> support::http::Response {
    let response = support::http::Connection::open(port)
        .and_then(|mut conn| conn.get("/metrics", headers))
        .expect("scrape");
    assert_eq!(response.status, 200, "{}", response.text());
    response
}

/// Scrapes the endpoint as Prometheus does and parses what it says with Python's
/// prometheus_client.
fn scrape(port: u16) -> Scrape {
    let response = get_metrics(port, PROMETHEUS_ACCEPT);
    assert_eq!(response.header("content-type"), Some(OPENMETRICS));
    parse(&response.text())
}

fn parse(text: &str) -> Scrape {
    Scrape(
        python::parse_exposition("openmetrics.py", text)
            .into_iter()
            .map(|s| Sample {
                name: s["name"].as_str().unwrap().to_owned(),
                labels: serde_json::from_value(s["labels"].clone()).unwrap(),
                value: s["value"].as_f64().unwrap(),
            })
            .collect(),
    )
}

/// One family of a scrape in the text format 0.0.4, as the parser read it.
#[derive(Debug)]
struct Family {
    name: String,
    kind: String,
    samples: Vec<Sample>,
}

/// Scrapes the endpoint with extra header lines `headers` and parses what it says as
/// the text format 0.0.4, with the parser the Python client has for it.
fn scrape_text(port: u16, headers: &str) -> Vec<Family> {
    let response = get_metrics(port, headers);
    assert_eq!(response.header("content-type"), Some(TEXT_0_0_4));
    let text = response.text();
    assert!(!text.contains("# EOF"), "{text}");
    python::parse_exposition("prometheus_text.py", &text)
        .into_iter()
        .map(|family| Family {
            name: family["name"].as_str().unwrap().to_owned(),
            kind: family["type"].as_str().unwrap().to_owned(),
            samples: family["samples"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| Sample {
                    name: s["name"].as_str().unwrap().to_owned(),
                    labels: serde_json::from_value(s["labels"].clone()).unwrap(),
                    value: s["value"].as_f64().unwrap_or(f64::NAN),
                })
                .collect(),
        })
        .collect()
}

fn config(workers: usize, metrics: &str) -> String {
    format!(
        "[DEFAULT]\n[api]\nport = 0\nworkers = {workers}\ndebug_routes = true\n[metrics]\nenabled = true\nport = 0\n{metrics}"
    )
}

fn start(workers: usize, metrics: &str) -> (Service, u16, u16) {
    let (service, port) = support::start_listening(API, &config(workers, metrics));
    let metrics = metrics_port(&service);
    (service, port, metrics)
}

#[test]
fn a_scrape_of_three_workers_under_traffic_adds_up_and_survives_a_killed_worker() {
    let (service, port, metrics) = start(3, "");
    let load = Load::start(port, 6);
    support::wait_until("answers under load", || load.answered() > 200);
    // Scrapes while the load runs: each parses.
    let during = scrape(metrics);
    let seen = load.finish();
    seen.assert_nothing_failed("under load");
    let answered = seen.answers.len() as f64;

    let first = scrape(metrics);
    assert_eq!(
        first.value("oslo_workers_wanted", &[("service", "api")]),
        3.0
    );
    assert_eq!(
        first.value("oslo_workers_alive", &[("service", "api")]),
        3.0
    );
    assert_eq!(
        first.value("oslo_workers_ready", &[("service", "api")]),
        3.0
    );
    // Each worker's samples carry its labels; the parent's carry none.
    assert_eq!(
        first.workers("process_resident_memory_bytes"),
        ["0", "1", "2"]
    );
    assert!(first.value("process_resident_memory_bytes", &[]) > 0.0);
    let requests = first.sum(
        "oslo_http_requests_total",
        &[("method", "GET"), ("status", "2xx")],
    );
    assert!(
        requests >= answered && requests <= answered + 6.0,
        "{requests} requests counted, {answered} answered"
    );
    assert!(requests >= during.sum("oslo_http_requests_total", &[]));
    assert_eq!(
        first.sum("oslo_http_request_duration_seconds_count", &[]),
        first.sum("oslo_http_requests_total", &[])
    );
    assert!(first.sum("oslo_http_sent_bytes_total", &[]) > 0.0);
    assert_eq!(first.sum("oslo_http_requests_in_flight", &[]), 0.0);
    assert_eq!(first.sum("oslo_metrics_missed_workers_total", &[]), 0.0);
    // The parent serves no HTTP: no sample of it without a worker label.
    assert!(
        first
            .matching("oslo_http_requests_total", &[])
            .all(|s| s.labels.contains_key("worker"))
    );

    // A worker killed: its slot keeps its counts, its replacement counts on from them.
    let pid = support::http::get(port, "/v1/whoami")
        .map(|r| r.text())
        .unwrap();
    let pid: u32 = serde_json::from_str::<serde_json::Value>(&pid).unwrap()["pid"]
        .as_u64()
        .unwrap() as u32;
    let before_kill = scrape(metrics);
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(pid as i32).unwrap(),
        Signal::KILL,
    )
    .unwrap();
    service.wait_log_line(&["child killed", &format!("pid={pid}")]);
    service.wait_for_log("started worker", 4);
    wait_ready(metrics, 3);
    let load = Load::start(port, 2);
    support::wait_until("answers after the kill", || load.answered() > 50);
    load.finish().assert_nothing_failed("after the kill");
    let after = scrape(metrics);
    for worker in ["0", "1", "2"] {
        let slot = [("worker", worker), ("method", "GET"), ("status", "2xx")];
        let (then, now) = (
            before_kill.sum("oslo_http_requests_total", &slot),
            after.sum("oslo_http_requests_total", &slot),
        );
        assert!(now >= then, "worker {worker}: {then} requests, then {now}");
        let cpu = [("worker", worker)];
        assert!(
            after.sum("process_cpu_seconds_total", &cpu)
                >= before_kill.sum("process_cpu_seconds_total", &cpu)
        );
    }
    assert_eq!(
        after.value(
            "oslo_worker_restarts_total",
            &[("service", "api"), ("reason", "killed")]
        ),
        1.0
    );
    assert_eq!(
        after.value("oslo_workers_alive", &[("service", "api")]),
        3.0
    );
}

#[test]
fn a_scraper_that_does_not_ask_for_openmetrics_gets_the_text_format_0_0_4() {
    let (_service, port, metrics) = start(2, "");
    for _ in 0..6 {
        assert_eq!(support::http::get(port, "/v1/whoami").unwrap().status, 200);
    }
    // curl and scripts ask for nothing; older agents for text/plain, or anything.
    for headers in [
        "",
        "Accept: text/plain\r\n",
        "Accept: text/plain; version=0.0.4\r\n",
        "Accept: */*\r\n",
    ] {
        let families = scrape_text(metrics, headers);
        let family = |name: &str| {
            families
                .iter()
                .find(|f| f.name == name)
                .unwrap_or_else(|| panic!("{headers:?}: no family {name}: {families:?}"))
        };
        // Counters are counters, with their samples, not families of unknown type.
        let requests = family("oslo_http_requests");
        assert_eq!(requests.kind, "counter", "{headers:?}");
        let counted: f64 = requests
            .samples
            .iter()
            .filter(|s| s.name == "oslo_http_requests_total")
            .map(|s| s.value)
            .sum();
        assert_eq!(counted, 6.0, "{headers:?}: {requests:?}");
        assert!(
            requests
                .samples
                .iter()
                .all(|s| s.labels.contains_key("worker") && s.labels["status"] == "2xx")
        );
        assert_eq!(family("process_cpu_seconds").kind, "counter");
        assert_eq!(family("oslo_metrics_missed_workers").kind, "counter");
        assert!(families.iter().all(|f| f.kind != "unknown"), "{families:?}");
        // Gauges and histograms.
        let alive = family("oslo_workers_alive");
        assert_eq!(alive.kind, "gauge");
        assert_eq!(alive.samples[0].value, 2.0);
        let durations = family("oslo_http_request_duration_seconds");
        assert_eq!(durations.kind, "histogram");
        let sample = |name: &str, le: Option<&str>| -> f64 {
            durations
                .samples
                .iter()
                .filter(|s| s.name == name && s.labels.get("le").map(String::as_str) == le)
                .map(|s| s.value)
                .sum()
        };
        assert_eq!(
            sample("oslo_http_request_duration_seconds_count", None),
            6.0
        );
        assert_eq!(
            sample("oslo_http_request_duration_seconds_bucket", Some("+Inf")),
            6.0
        );
        assert!(sample("oslo_http_request_duration_seconds_sum", None) > 0.0);
    }
    // What Prometheus sends, or OpenMetrics alone: OpenMetrics, as the strict
    // parser reads it.
    for headers in [
        PROMETHEUS_ACCEPT,
        "Accept: application/openmetrics-text;version=1.0.0,text/plain;q=0.5\r\n",
        "Accept: application/openmetrics-text\r\n",
    ] {
        let response = get_metrics(metrics, headers);
        assert_eq!(response.header("content-type"), Some(OPENMETRICS));
        let scraped = parse(&response.text());
        assert_eq!(scraped.sum("oslo_http_requests_total", &[]), 6.0);
    }
}

#[test]
fn a_worker_that_does_not_answer_is_shown_as_it_last_answered_and_counted() {
    let (service, port, metrics) = start(2, "worker_timeout = 500ms\n");
    for _ in 0..10 {
        assert_eq!(support::http::get(port, "/v1/whoami").unwrap().status, 200);
    }
    let before = wait_scrape(metrics, |scraped| {
        scraped.workers("process_open_fds") == ["0", "1"]
            && scraped.sum("oslo_http_requests_total", &[]) == 10.0
    });
    let stopped = service.children()[0];
    let stopped_pid = rustix::process::Pid::from_raw(stopped as i32).unwrap();
    rustix::process::kill_process(stopped_pid, Signal::STOP).unwrap();
    let asked = Instant::now();
    let late = scrape(metrics);
    let took = asked.elapsed();
    rustix::process::kill_process(stopped_pid, Signal::CONT).unwrap();
    assert!(took < Duration::from_secs(10), "the scrape took {took:?}");
    assert_eq!(late.value("oslo_metrics_missed_workers_total", &[]), 1.0);
    // Both slots are there, the stopped worker's as it last answered: no series
    // vanished, no count went down.
    assert_eq!(late.workers("process_open_fds"), ["0", "1"]);
    assert_eq!(late.sum("oslo_http_requests_total", &[]), 10.0);
    for worker in ["0", "1"] {
        let slot = [("worker", worker)];
        for counter in ["oslo_http_requests_total", "process_cpu_seconds_total"] {
            assert!(
                late.sum(counter, &slot) >= before.sum(counter, &slot),
                "worker {worker}: {counter} went down"
            );
        }
    }
    // Awake again, it answers: a scrape comes that misses no one.
    let missed = std::cell::Cell::new(1.0);
    let again = wait_scrape(metrics, |scraped| {
        let now = scraped.value("oslo_metrics_missed_workers_total", &[]);
        missed.replace(now) == now
    });
    assert_eq!(again.workers("process_open_fds"), ["0", "1"]);
}

#[test]
fn the_endpoint_serves_only_get_metrics_and_closes_on_silent_clients() {
    let (_service, _port, metrics) = start(1, "");
    assert_eq!(support::http::get(metrics, "/").unwrap().status, 404);
    let mut conn = support::http::Connection::open(metrics).unwrap();
    conn.send(b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        .unwrap();
    assert_eq!(conn.read_response().unwrap().status, 405);

    // Clients that connect and say nothing: closed within the head's few seconds (or
    // at once for a newcomer), and the endpoint answers a real scrape meanwhile.
    let silent: Vec<TcpStream> = (0..12)
        .map(|_| TcpStream::connect(("127.0.0.1", metrics)).unwrap())
        .collect();
    scrape(metrics);
    for mut client in silent {
        client
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let started = Instant::now();
        let mut rest = Vec::new();
        // Closed by the endpoint (end of file, or a reset), not by our timeout.
        let read = client.read_to_end(&mut rest);
        let held = started.elapsed();
        assert!(
            read.as_ref().map_or_else(
                |err| err.kind() == std::io::ErrorKind::ConnectionReset,
                |_| true
            ) && held < Duration::from_secs(15),
            "a silent client held for {held:?}: {read:?}"
        );
    }
}

#[test]
fn clients_that_say_nothing_or_say_it_slowly_do_not_keep_a_scraper_out() {
    let (_service, _port, metrics) = start(1, "");
    // More clients than the endpoint's 8 connections: first ones that say nothing,
    // then ones that send the start of a request and no more. Each time, a scraper
    // coming after them is answered at its first try, long before their 5 seconds for
    // a head are up.
    for start_of_a_head in [&b""[..], b"GET /metr"] {
        let held: Vec<TcpStream> = (0..12)
            .map(|_| {
                let mut client = TcpStream::connect(("127.0.0.1", metrics)).unwrap();
                client.write_all(start_of_a_head).unwrap();
                client
            })
            .collect();
        for _ in 0..3 {
            let scraped = scrape(metrics);
            assert!(scraped.value("process_open_fds", &[]) > 0.0);
        }
        drop(held);
    }
}

/// Scrapes until a scrape shows what `wanted` checks (30 s at most), and returns it.
fn wait_scrape(port: u16, wanted: impl Fn(&Scrape) -> bool) -> Scrape {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let scraped = scrape(port);
        if wanted(&scraped) {
            return scraped;
        }
        assert!(Instant::now() < deadline, "never the scrape wanted");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until the scrape says `ready` workers of `api` are ready.
fn wait_ready(port: u16, ready: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while scrape(port).value("oslo_workers_ready", &[("service", "api")]) != ready as f64 {
        assert!(Instant::now() < deadline, "never {ready} workers ready");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_programs_own_metric_shows_for_each_worker() {
    let config =
        "[DEFAULT]\n[inventory]\nport = 0\napi_workers = 2\n[metrics]\nenabled = true\nport = 0\n";
    let (service, port) = support::start_listening(INVENTORY, config);
    let metrics = metrics_port(&service);
    for _ in 0..10 {
        assert_eq!(support::http::get(port, "/items").unwrap().status, 200);
    }
    let scraped = scrape(metrics);
    // Two items listed per request.
    assert_eq!(scraped.sum("inventory_items_listed_total", &[]), 20.0);
    assert!(
        scraped
            .matching(
                "inventory_items_listed_total",
                &[("service", "inventory-api")]
            )
            .count()
            >= 1
    );
    // The background service's periodic task, in its own worker.
    let refresher = [("service", "Refresher"), ("task", "Refresher.refresh")];
    assert!(scraped.sum("oslo_periodic_task_runs_total", &refresher) >= 1.0);
    assert!(scraped.sum("oslo_periodic_task_duration_seconds_count", &refresher) >= 1.0);
}

#[test]
fn a_bad_metrics_option_stops_the_start_naming_it() {
    Service::expect_start_refused(
        API,
        &config(1, "worker_timeout = 0s\n"),
        "9: invalid value '0s' for option worker_timeout in group [metrics]",
    );
    let mut service = Service::start(API, &config(1, "port = 70000\n"), Stdout::Null);
    assert!(!service.wait_exit().success());
    assert!(service.log().contains("port"), "{}", service.log());
}

#[test]
fn reloads_are_counted_and_overlapping_generations_keep_each_slot_whole() {
    // So short a time to answer that workers are late to some scrapes, as on a busy
    // machine: what the scrapes show must hold all the same.
    let (service, port, metrics) = start(2, "worker_timeout = 20ms\n");
    // Each worker answered once: from then on, each slot is in every scrape.
    wait_scrape(metrics, |scraped| {
        scraped.workers("process_cpu_seconds_total") == ["0", "1"]
    });
    let load = Load::start(port, 4);
    let mut last = 0.0;
    for reload in 1..=3 {
        service.signal(Signal::HUP);
        service.wait_for_log("configuration reloaded", reload);
        // Scrapes while generations overlap: each one parses (no series twice), shows
        // both slots, and the host's count of requests never goes down, even when a
        // worker is too slow to answer in time (it is shown as it last answered).
        for _ in 0..5 {
            let scraped = scrape(metrics);
            assert_eq!(scraped.workers("process_cpu_seconds_total"), ["0", "1"]);
            let now = scraped.sum("oslo_http_requests_total", &[]);
            assert!(now >= last, "{last} requests counted, then {now}");
            last = now;
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    load.finish().assert_nothing_failed("reloads");
    wait_ready(metrics, 2);
    let after = scrape(metrics);
    assert_eq!(
        after.value("oslo_reloads_total", &[("outcome", "accepted")]),
        3.0
    );
    assert_eq!(after.value("oslo_config_generation", &[]), 3.0);
    assert!(after.sum("oslo_http_requests_total", &[]) >= last);
    assert_eq!(after.workers("oslo_http_requests_total"), ["0", "1"]);
    // The old generations retired: counted as such, not as crashes.
    assert_eq!(
        after.value(
            "oslo_worker_restarts_total",
            &[("service", "api"), ("reason", "retired")]
        ),
        6.0
    );

    // A refused reload is counted too.
    service.rewrite_config("[DEFAULT]\ndebug = maybe\n");
    service.signal(Signal::HUP);
    service.wait_log("reload refused");
    let refused = scrape(metrics);
    assert_eq!(
        refused.value("oslo_reloads_total", &[("outcome", "refused")]),
        1.0
    );
    assert_eq!(refused.value("oslo_config_generation", &[]), 3.0);
}

#[test]
fn a_process_without_workers_serves_its_own_metrics() {
    let config =
        "[DEFAULT]\n[hello]\nrestart_method = reload\n[metrics]\nenabled = true\nport = 0\n";
    let service = Service::start(env!("CARGO_BIN_EXE_hello"), config, Stdout::Null);
    service.expect_notify("READY=1");
    let metrics = metrics_port(&service);
    let scraped = scrape(metrics);
    assert!(scraped.value("process_resident_memory_bytes", &[]) > 0.0);
    assert!(scraped.0.iter().all(|s| !s.labels.contains_key("worker")));
    // No workers: none of the workers' families.
    assert_eq!(scraped.matching("oslo_workers_alive", &[]).count(), 0);
    service.signal(Signal::HUP);
    service.wait_log("configuration reloaded");
    assert_eq!(
        scrape(metrics).value("oslo_reloads_total", &[("outcome", "accepted")]),
        1.0
    );
}

#[test]
fn coordination_is_counted_on_the_host_that_claims() {
    let etcd = support::etcd::Etcd::start();
    let config = |member: &str, workers: u32| {
        format!(
            "[DEFAULT]\ngraceful_shutdown_timeout = 10\n\
             [coordination]\nbackend_url = {}\nmember_id = {member}\nheartbeat = 500ms\nlease_ttl = 3s\n\
             [cluster]\nworkers = {workers}\n[metrics]\nenabled = true\nport = 0\n",
            etcd.url()
        )
    };
    let cluster = env!("CARGO_BIN_EXE_cluster");
    // Host a: a parent and 2 workers, whose claims the parent makes; host b: one process.
    let a = Service::start(cluster, &config("a", 2), Stdout::Null);
    a.expect_notify("READY=1");
    let b = Service::start(cluster, &config("b", 0), Stdout::Null);
    b.expect_notify("READY=1");
    let (a_port, b_port) = (metrics_port(&a), metrics_port(&b));
    let task = [("task", "Cluster.purge_expired")];
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (a, b) = (scrape(a_port), scrape(b_port));
        let ran = a.sum("oslo_periodic_task_runs_total", &task)
            + b.sum("oslo_periodic_task_runs_total", &task);
        if ran >= 6.0 {
            break;
        }
        assert!(Instant::now() < deadline, "{ran} periods run in 30 s");
        std::thread::sleep(Duration::from_millis(500));
    }
    let (a, b) = (scrape(a_port), scrape(b_port));
    // Each period is won once across the hosts; a's parent claims for its 2 workers.
    let won = a.sum("oslo_coordination_claims_total", &[("outcome", "won")])
        + b.sum("oslo_coordination_claims_total", &[("outcome", "won")]);
    let ran = a.sum("oslo_periodic_task_runs_total", &task)
        + b.sum("oslo_periodic_task_runs_total", &task);
    assert!(
        won >= ran && won <= ran + 3.0,
        "{won} claims won, {ran} runs"
    );
    assert!(
        a.matching("oslo_coordination_claims_total", &[])
            .all(|s| !s.labels.contains_key("worker"))
    );
    assert!(
        a.sum("oslo_periodic_task_skipped_total", &task)
            + b.sum("oslo_periodic_task_skipped_total", &task)
            >= 1.0
    );
    assert!(a.value("oslo_coordination_lease_renewals_total", &[]) >= 1.0);
    assert!(b.value("oslo_coordination_lease_renewals_total", &[]) >= 1.0);
    // One leader of the group between the two hosts.
    let group = [("group", "cluster")];
    assert_eq!(
        a.sum("oslo_coordination_leader", &group) + b.sum("oslo_coordination_leader", &group),
        1.0
    );
    assert_eq!(a.sum("oslo_coordination_etcd_errors_total", &[]), 0.0);
}

#[test]
fn a_worker_that_stops_sends_what_it_counted_since_the_last_scrape() {
    // Two workers recycled every 40 requests: each old one stops gracefully, unscraped.
    let config = config(2, "").replacen("[DEFAULT]\n", "[DEFAULT]\nmax_requests = 40\n", 1);
    let (service, port) = support::start_listening(API, &config);
    let metrics = metrics_port(&service);
    assert_eq!(scrape(metrics).sum("oslo_http_requests_total", &[]), 0.0);
    for _ in 0..100 {
        assert_eq!(support::http::get(port, "/v1/whoami").unwrap().status, 200);
    }
    // However the requests fell on the two, one at least served its 40 and was replaced.
    service.wait_for_log("child exited", 1);
    // Once the workers asked to stop have gone, every request is counted, those of the
    // workers gone since the last scrape too; never one more.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let counted = scrape(metrics).sum("oslo_http_requests_total", &[]);
        assert!(counted <= 100.0, "{counted} requests counted");
        if counted == 100.0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{counted} of 100 requests counted"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let last = scrape(metrics);
    assert!(last.sum("oslo_worker_restarts_total", &[("reason", "retired")]) >= 1.0);
    // Replaced new-before-old, and why.
    assert!(last.sum("oslo_worker_recycles_total", &[("reason", "max_requests")]) >= 1.0);
}

#[test]
fn clients_cut_and_requests_refused_are_counted_by_cause() {
    let config = "[DEFAULT]\nclient_socket_timeout = 1\nmax_header_line = 100\n\
                  [api]\nport = 0\nworkers = 1\ndebug_routes = true\n\
                  [metrics]\nenabled = true\nport = 0\n";
    let (service, port) = support::start_listening(API, config);
    let metrics = metrics_port(&service);
    let long = format!("X-Long: {}\r\n", "a".repeat(200));
    let mut conn = support::http::Connection::open(port).unwrap();
    let answer = conn.get("/v1/whoami", &long).unwrap();
    assert_eq!(answer.status, 400);
    // 1000 bytes of a body read, 2000 bytes of a body written.
    let mut conn = support::http::Connection::open(port).unwrap();
    let body = "b".repeat(1000);
    conn.send(
        format!("POST /debug/upload HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n{body}")
            .as_bytes(),
    )
    .unwrap();
    assert_eq!(conn.read_response().unwrap().status, 200);
    assert_eq!(conn.get("/debug/bytes/2000", "").unwrap().body.len(), 2000);
    // A client that says nothing is cut after client_socket_timeout.
    let mut silent = TcpStream::connect(("127.0.0.1", port)).unwrap();
    silent
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let _ = silent.read_to_end(&mut Vec::new());
    let scraped = scrape(metrics);
    assert_eq!(
        scraped.value(
            "oslo_http_refused_requests_total",
            &[("cause", "header_too_long")]
        ),
        1.0
    );
    assert_eq!(
        scraped.value(
            "oslo_http_requests_total",
            &[("method", "GET"), ("status", "4xx")]
        ),
        1.0
    );
    assert!(scraped.value("oslo_http_cut_connections_total", &[("cause", "idle")]) >= 1.0);
    assert_eq!(scraped.value("oslo_http_received_bytes_total", &[]), 1000.0);
    assert!(scraped.value("oslo_http_sent_bytes_total", &[]) >= 2000.0);
}
