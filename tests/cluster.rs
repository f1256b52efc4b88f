//! Cluster-scoped periodic tasks against a real etcd (Debian's `etcd-server`, started by
//! each test on free loopback ports): the `cluster` example started three times as
//! three hosts, then the faults: a host killed, etcd gone and back, a host frozen past
//! its lease, a host of several worker processes.

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use support::etcd::Etcd;
use support::{HANG, Service, Signal, Stdout, exit_code, wait_until};

const CLUSTER: &str = env!("CARGO_BIN_EXE_cluster");

/// The lease TTL of these tests' configuration.
const LEASE_TTL: Duration = Duration::from_secs(3);

fn config(etcd: &Etcd, member: &str, workers: u32) -> String {
    config_for(&etcd.url(), member, workers)
}

fn config_for(url: &str, member: &str, workers: u32) -> String {
    format!(
        "[DEFAULT]\ngraceful_shutdown_timeout = 10\n\
         [coordination]\nbackend_url = {url}\nmember_id = {member}\nheartbeat = 500ms\nlease_ttl = 3s\n\
         [cluster]\nworkers = {workers}\n"
    )
}

fn host(etcd: &Etcd, member: &str) -> Service {
    let service = Service::start(CLUSTER, &config(etcd, member, 0), Stdout::Null);
    service.expect_notify("READY=1");
    service
}

/// Where each host's debug console listens (`{pid}` is the host's process id).
fn console_path() -> String {
    std::env::temp_dir()
        .join("oslo-cluster-test-{pid}.sock")
        .display()
        .to_string()
}

/// A host with its debug console at [`console_path`], once ready.
fn with_console(etcd: &Etcd, member: &str) -> Service {
    let service = Service::start(
        CLUSTER,
        &format!(
            "{}\n[DEFAULT]\nbackdoor_socket = {}\n",
            config(etcd, member, 0),
            console_path()
        ),
        Stdout::Null,
    );
    service.expect_notify("READY=1");
    service
}

/// The console's `tasks` line of the cluster task: (runs, skipped).
fn task_counts(service: &Service) -> (u64, u64) {
    listed_task_counts(service).expect("no purge_expired in the console's tasks")
}

/// [`task_counts`], or `None` while the console does not list the task yet.
fn listed_task_counts(service: &Service) -> Option<(u64, u64)> {
    use std::io::{BufRead, BufReader, Write};
    let socket = console_path().replace("{pid}", &service.pid().to_string());
    let mut stream = std::os::unix::net::UnixStream::connect(&socket).expect("console");
    stream.set_read_timeout(Some(HANG)).unwrap();
    stream.write_all(b"tasks\nquit\n").unwrap();
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    while reader.read_line(&mut line).unwrap() > 0 {
        if let Some(rest) = line.trim().strip_prefix("cluster.purge_expired ") {
            let field = |name: &str| -> u64 {
                let (_, value) = rest.split_once(&format!("{name}=")).unwrap();
                value.split_whitespace().next().unwrap().parse().unwrap()
            };
            return Some((field("runs"), field("skipped")));
        }
        line.clear();
    }
    None
}

/// The periods a log says its host ran, in order.
fn periods(log: &str) -> Vec<u64> {
    log.lines()
        .filter(|line| line.contains("cluster task ran"))
        .map(|line| {
            let (_, rest) = line.split_once("period=").expect("period field");
            rest.split_whitespace().next().unwrap().parse().unwrap()
        })
        .collect()
}

/// Who ran each period, across `hosts`; fails on a period run twice.
fn runs(hosts: &[(&str, &Service)]) -> BTreeMap<u64, String> {
    let mut runs = BTreeMap::new();
    for (name, service) in hosts {
        for period in periods(&service.log()) {
            if let Some(other) = runs.insert(period, (*name).to_owned()) {
                panic!("period {period} ran on {other} and on {name}");
            }
        }
    }
    runs
}

/// Periods from the first to the last with none missing.
fn assert_contiguous(runs: &BTreeMap<u64, String>) {
    let (first, last) = (runs.keys().next().unwrap(), runs.keys().last().unwrap());
    assert_eq!(
        runs.len() as u64,
        last - first + 1,
        "a period was missed: {runs:?}"
    );
}

fn stop(mut service: Service) {
    service.signal(Signal::TERM);
    assert_eq!(exit_code(service.wait_exit()), 0, "{}", service.log());
}

#[test]
fn three_hosts_run_each_period_exactly_once() {
    let etcd = Etcd::start();
    let (a, b, c) = (
        with_console(&etcd, "a"),
        with_console(&etcd, "b"),
        with_console(&etcd, "c"),
    );
    let hosts = [("a", &a), ("b", &b), ("c", &c)];
    wait_until("eight periods", || runs(&hosts).len() >= 8);
    // Every host was due each period: what it did not run, it skipped.
    let counts: Vec<(u64, u64)> = [&a, &b, &c].into_iter().map(task_counts).collect();
    assert!(
        counts.iter().map(|(_, skipped)| skipped).sum::<u64>() >= 8,
        "{counts:?}"
    );
    for (service, (ran, _)) in [&a, &b, &c].into_iter().zip(&counts) {
        assert!(periods(&service.log()).len() as u64 >= *ran, "{counts:?}");
    }
    // Each host was due every period and ran only those it claimed: the rest are
    // skipped, and nobody ran a period twice.
    let runs = runs(&hosts);
    assert_contiguous(&runs);
    let members = etcd.values_under("/oslo/members/cluster/");
    assert_eq!(members.len(), 3, "{members:?}");
    let leaders = etcd.values_under("/oslo/leaders/cluster");
    assert_eq!(leaders.len(), 1, "{leaders:?}");
    for service in [a, b, c] {
        stop(service);
    }
    // Leaving revoked each lease: nothing of theirs is left.
    assert!(etcd.values_under("/oslo/members/").is_empty());
}

#[test]
fn a_killed_runner_is_replaced_within_the_lease_ttl() {
    let etcd = Etcd::start();
    let hosts: Vec<(&str, Service)> = ["a", "b", "c"]
        .into_iter()
        .map(|m| (m, host(&etcd, m)))
        .collect();
    let view = |hosts: &[(&str, Service)]| {
        let refs: Vec<(&str, &Service)> = hosts.iter().map(|(n, s)| (*n, s)).collect();
        runs(&refs)
    };
    wait_until("three periods", || view(&hosts).len() >= 3);
    let (&last, runner) = view(&hosts)
        .iter()
        .next_back()
        .map(|(p, r)| (p, r.clone()))
        .unwrap();
    let victim = hosts.iter().position(|(name, _)| *name == runner).unwrap();
    hosts[victim].1.signal(Signal::KILL);
    let killed = Instant::now();
    let survivors: Vec<(&str, Service)> = hosts
        .into_iter()
        .enumerate()
        .filter_map(|(i, host)| (i != victim).then_some(host))
        .collect();
    wait_until("a survivor's run", || {
        view(&survivors).keys().any(|&p| p > last + 1)
    });
    let took = killed.elapsed();
    assert!(took < LEASE_TTL, "the task moved after {took:?}");
    for (_, service) in survivors {
        stop(service);
    }
}

#[test]
fn without_etcd_nobody_runs_the_task_and_each_says_why_once_then_all_resume() {
    let mut etcd = Etcd::start();
    let (a, b) = (host(&etcd, "a"), host(&etcd, "b"));
    let hosts = [("a", &a), ("b", &b)];
    wait_until("two periods", || runs(&hosts).len() >= 2);
    etcd.stop();
    let stopped = Instant::now();
    // Each host found etcd gone: a run claimed just before has landed by then.
    for (_, service) in &hosts {
        service.wait_log("coordination unavailable");
    }
    let before = runs(&hosts).len();
    // Three periods (spacing 1 s) come due while etcd is down.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(runs(&hosts).len(), before, "a task ran while etcd was down");
    for (name, service) in &hosts {
        assert_eq!(
            service.log_count("coordination unavailable"),
            1,
            "{name}: {}",
            service.log()
        );
    }
    etcd.resume();
    wait_until("runs after etcd is back", || {
        runs(&hosts).len() >= before + 3
    });
    for (_, service) in &hosts {
        service.wait_log("coordination available again");
    }
    assert!(stopped.elapsed() < HANG);
    let all = runs(&hosts);
    assert!(all.len() >= before + 3);
    stop(a);
    stop(b);
}

#[test]
fn a_host_frozen_past_its_lease_does_not_run_as_a_stale_runner() {
    let etcd = Etcd::start();
    let (a, b) = (host(&etcd, "a"), host(&etcd, "b"));
    let hosts = [("a", &a), ("b", &b)];
    wait_until("two periods", || runs(&hosts).len() >= 2);
    a.signal(Signal::STOP);
    // Frozen past its lease: etcd let it expire, b's alone is left.
    wait_until("a's lease expired in etcd", || etcd.lease_count() == 1);
    let ran_before = periods(&a.log()).len();
    a.signal(Signal::CONT);
    a.wait_log("coordination lease lost");
    let regranted_in = |log: &str| {
        let lost = log.find("coordination lease lost")?;
        log[lost..]
            .find("coordination lease granted")
            .map(|at| lost + at)
    };
    wait_until("a new lease for a", || regranted_in(&a.log()).is_some());
    let total = runs(&hosts).len();
    wait_until("three more periods", || runs(&hosts).len() >= total + 3);
    // No period twice (runs() checks), and a ran nothing between waking up and holding
    // a new lease.
    let log = a.log();
    let regranted = regranted_in(&log).unwrap();
    let woke_and_ran =
        log[ran_before_offset(&log, ran_before)..regranted].contains("cluster task ran");
    assert!(!woke_and_ran, "a ran before it held a new lease:\n{log}");
    let _ = runs(&hosts);
    stop(a);
    stop(b);
}

/// The offset in `log` just after its `count`-th run line.
fn ran_before_offset(log: &str, count: usize) -> usize {
    log.match_indices("cluster task ran")
        .nth(count.saturating_sub(1))
        .map_or(0, |(at, _)| at + 1)
}

#[test]
fn a_host_of_worker_processes_is_one_member_and_runs_each_period_once() {
    let etcd = Etcd::start();
    let a = Service::start(CLUSTER, &config(&etcd, "a", 3), Stdout::Null);
    a.expect_notify("READY=1");
    let b = host(&etcd, "b");
    let hosts = [("a", &a), ("b", &b)];
    wait_until("eight periods", || runs(&hosts).len() >= 8);
    assert_contiguous(&runs(&hosts));
    let mut members = etcd.values_under("/oslo/members/cluster/");
    members.sort();
    assert_eq!(members, ["a", "b"]);
    // The two parents' leases: workers that take no lock keep none.
    assert_eq!(etcd.lease_count(), 2);
    stop(a);
    stop(b);
}

#[test]
fn without_a_backend_a_cluster_task_runs_on_every_host_with_a_warning() {
    let config = "[DEFAULT]\ngraceful_shutdown_timeout = 10\n";
    let (a, b) = (
        Service::start(CLUSTER, config, Stdout::Null),
        Service::start(CLUSTER, config, Stdout::Null),
    );
    for service in [&a, &b] {
        service.expect_notify("READY=1");
        service.wait_for_log("cluster task ran", 2);
        assert_eq!(
            service.log_count(
                "cluster-scoped periodic task runs on every host: [coordination] backend_url is not set"
            ),
            1,
            "{}",
            service.log()
        );
    }
    stop(a);
    stop(b);
}

#[test]
fn sighup_moves_a_host_to_a_new_backend_url() {
    let (old, new) = (Etcd::start(), Etcd::start());
    let a = host(&old, "a");
    wait_until("a member of the old cluster", || {
        old.values_under("/oslo/members/cluster/") == ["a"]
    });
    a.rewrite_config(&config(&new, "a", 0));
    a.signal(Signal::HUP);
    a.wait_log("coordination backend changed");
    wait_until("a member of the new cluster only", || {
        new.values_under("/oslo/members/cluster/") == ["a"]
            && old.values_under("/oslo/members/cluster/").is_empty()
    });
    // Its cluster task now claims its periods in the new etcd.
    wait_until("a run claimed in the new etcd", || {
        !new.values_under("/oslo/tasks/cluster/").is_empty()
    });
    stop(a);
}

#[test]
fn workers_ask_their_parent_so_a_frozen_parent_holds_its_hosts_runs() {
    let etcd = Etcd::start();
    let a = Service::start(CLUSTER, &config(&etcd, "a", 2), Stdout::Null);
    a.expect_notify("READY=1");
    let hosts = [("a", &a)];
    wait_until("three periods", || runs(&hosts).len() >= 3);
    // The parent alone: its workers run on, but their claims wait for its answers. The
    // freeze is shorter than the lease, so the host's membership stands in etcd all along:
    // a worker that claimed there itself would go on running.
    a.signal(Signal::STOP);
    std::thread::sleep(Duration::from_millis(300));
    let before = runs(&hosts).len();
    std::thread::sleep(Duration::from_secs(2));
    let during = runs(&hosts).len();
    a.signal(Signal::CONT);
    assert_eq!(during, before, "a worker ran a period without its parent");
    wait_until("runs again", || runs(&hosts).len() >= during + 2);
    stop(a);
}

/// The console's `run` of a cluster task claims the current period as a scheduled run
/// does: run on request or on schedule, on this host or another, no period runs twice,
/// and a refused request says why.
#[test]
fn a_console_run_of_a_cluster_task_claims_its_period() {
    use std::io::{BufRead, BufReader, Write};
    let etcd = Etcd::start();
    let (a, b) = (with_console(&etcd, "a"), with_console(&etcd, "b"));
    // The task is known to the console once the service's driver has run it once.
    wait_until("the task in the console's list", || {
        listed_task_counts(&a).is_some_and(|(runs, skipped)| runs + skipped > 0)
    });
    let socket = console_path().replace("{pid}", &a.pid().to_string());
    let stream = std::os::unix::net::UnixStream::connect(&socket).expect("console");
    stream.set_read_timeout(Some(HANG)).unwrap();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    let mut banner = String::new();
    while banner != "\n" {
        banner.clear();
        reader.read_line(&mut banner).unwrap();
    }
    let mut answers = Vec::new();
    for _ in 0..20 {
        writer.write_all(b"run purge_expired\n").unwrap();
        let mut answer = String::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap() == 0 || line == "\n" {
                break;
            }
            answer.push_str(&line);
        }
        answers.push(answer);
        std::thread::sleep(Duration::from_millis(150));
    }
    // The log's own lines show every run, requested or scheduled, with its period.
    runs(&[("a", &a), ("b", &b)]);
    for answer in &answers {
        assert!(
            answer.starts_with("ran cluster.purge_expired")
                || answer.starts_with("error: cluster.purge_expired: not run: "),
            "{answers:?}"
        );
    }
    assert!(
        answers
            .iter()
            .any(|a| a.contains("not run: another member runs this period")),
        "{answers:?}"
    );
    stop(a);
    stop(b);
}

/// etcd serving its clients over TLS and asking each for a certificate: a host with
/// one runs the cluster task; a host without one is refused, and its log says why.
#[test]
fn over_tls_a_client_certificate_is_needed() {
    use support::tls::{Authority, write};
    let dir = tempfile::tempdir().unwrap();
    let authority = Authority::new("etcd CA");
    let ca = write(dir.path(), "ca.pem", &authority.pem());
    let server = authority.issue("etcd");
    let server_cert = write(dir.path(), "etcd.pem", &server.cert_pem);
    let server_key = write(dir.path(), "etcd.key", &server.key_pem);
    let client = authority.issue("oslo");
    let client_cert = write(dir.path(), "oslo.pem", &client.cert_pem);
    let client_key = write(dir.path(), "oslo.key", &client.key_pem);
    let etcd = Etcd::start_tls(&server_cert, &server_key, &ca);

    let url = format!(
        "etcd3+https://{}?ca_cert={}&cert_cert={}&cert_key={}",
        etcd.client_address(),
        ca.display(),
        client_cert.display(),
        client_key.display()
    );
    let with_certificate = Service::start(CLUSTER, &config_for(&url, "a", 0), Stdout::Null);
    with_certificate.expect_notify("READY=1");
    wait_until("two periods run over TLS", || {
        periods(&with_certificate.log()).len() >= 2
    });

    let url = format!(
        "etcd3+https://{}?ca_cert={}",
        etcd.client_address(),
        ca.display()
    );
    let without = Service::start(CLUSTER, &config_for(&url, "b", 0), Stdout::Null);
    without.expect_notify("READY=1");
    without.wait_log("coordination unavailable");
    let log = without.log();
    let line = log
        .lines()
        .find(|line| line.contains("coordination unavailable"))
        .unwrap();
    assert!(line.to_lowercase().contains("certificate"), "{line}");
    assert!(periods(&log).is_empty(), "{log}");
    stop(with_certificate);
    stop(without);
}

/// etcd with its authentication on: a host with the right user and password runs the
/// cluster task on and on, taking a new token when etcd refuses the old one (a restart
/// forgets every token), and its log masks the password; a wrong password stops the
/// start with etcd's reason, once, and shows the password nowhere.
#[test]
fn with_etcd_authentication_a_wrong_password_stops_the_start() {
    let mut etcd = Etcd::start();
    etcd.enable_auth("R00tPw");
    let address = etcd.client_address();
    let good = Service::start(
        CLUSTER,
        &config_for(&format!("etcd3+http://root:R00tPw@{address}"), "a", 0),
        Stdout::Null,
    );
    good.expect_notify("READY=1");
    wait_until("two periods run with a token", || {
        periods(&good.log()).len() >= 2
    });
    // etcd restarted: the host's token is no longer known; a new one is taken.
    etcd.stop();
    etcd.resume();
    let before = periods(&good.log()).len();
    wait_until("periods run again with a new token", || {
        periods(&good.log()).len() >= before + 2
    });
    let log = good.log();
    assert!(log.contains("root:****@"), "{log}");
    assert!(!log.contains("R00tPw"), "{log}");

    let mut wrong = Service::start(
        CLUSTER,
        &config_for(&format!("etcd3+http://root:Wr0ngPw@{address}"), "b", 0),
        Stdout::Null,
    );
    assert_eq!(exit_code(wrong.wait_exit()), 1, "{}", wrong.log());
    let log = wrong.log();
    // Said at once, not retried in a loop: the heartbeat may have said it too.
    let said = log
        .matches("etcd refused to authenticate user root")
        .count();
    assert!((1..=2).contains(&said), "{log}");
    assert!(log.contains("ERROR"), "{log}");
    assert!(!log.contains("Wr0ngPw"), "{log}");
    stop(good);
}
