//! Every built-in numeric option, fed the extremes a broken or hostile configuration
//! holds: each value either stops the start with an error that names the option and
//! the value, or the service starts, serves and stops cleanly. Never a panic, never a
//! fork loop. The options are those `--generate-config` lists in the runtime's
//! namespaces, so an option added later is covered without touching this test.

mod support;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use support::{HANG, Service, Signal, Stdout};

const API: &str = env!("CARGO_BIN_EXE_api");

/// The runtime's own namespaces, as `--generate-config --namespace` takes them.
const NAMESPACES: &[&str] = &[
    "oslo.service.service",
    "oslo.service.periodic_task",
    "oslo.service.wsgi",
    "oslo.log",
    "oslo.service.sslutils",
    "oslo.service.coordination",
];

const EXTREMES: &[&str] = &[
    "0",
    "-1",
    "9223372036854775807",
    "18446744073709551615",
    "1e309",
    "nan",
];

/// `(group, option)` of every option the sample file marks as a number or a duration.
fn numeric_options() -> Vec<(String, String)> {
    let mut command = std::process::Command::new(API);
    command.arg("--generate-config");
    for namespace in NAMESPACES {
        command.args(["--namespace", namespace]);
    }
    let output = command.output().expect("run --generate-config");
    assert!(output.status.success(), "{output:?}");
    let sample = String::from_utf8(output.stdout).unwrap();
    let mut found = Vec::new();
    let mut group = String::new();
    let mut numeric = false;
    for line in sample.lines() {
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            group = name.to_owned();
        } else if line.starts_with('#')
            && [
                "(integer value)",
                "(duration value)",
                "(port value)",
                "(floating point value)",
            ]
            .iter()
            .any(|kind| line.ends_with(kind))
        {
            numeric = true;
        } else if let Some(option) = line.strip_prefix('#').and_then(|l| l.split_once(" = ")) {
            if numeric && !option.0.contains(' ') {
                found.push((group.clone(), option.0.to_owned()));
            }
            numeric = false;
        }
    }
    found
}

fn config(group: &str, option: &str, value: &str) -> String {
    // Coordination on a port where nothing listens: its options are read and checked
    // at start, and the heartbeat keeps trying meanwhile.
    let mut groups = vec![
        ("DEFAULT", String::new()),
        ("api", "port = 0\nworkers = 2\n".to_owned()),
        (
            "coordination",
            "backend_url = etcd3+http://127.0.0.1:9\n".to_owned(),
        ),
    ];
    match groups.iter_mut().find(|(name, _)| *name == group) {
        Some((_, body)) => body.push_str(&format!("{option} = {value}\n")),
        None => groups.push((group, format!("{option} = {value}\n"))),
    }
    groups
        .iter()
        .map(|(name, body)| format!("[{name}]\n{body}"))
        .collect()
}

/// Starts the service with one extreme value; returns what went wrong, if anything.
fn try_value(group: &str, option: &str, value: &str) -> Option<String> {
    let mut service = Service::start(API, &config(group, option, value), Stdout::Null);
    let deadline = Instant::now() + HANG;
    let started = loop {
        if let Some(message) = service.try_notify() {
            break message.starts_with("READY=1");
        }
        if !service.is_running() {
            break false;
        }
        if Instant::now() > deadline {
            return Some(format!("neither started nor exited\n{}", service.log()));
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    if started {
        service.signal(Signal::TERM);
    }
    let status = service.wait_exit();
    let log = service.log();
    let case = format!("[{group}] {option} = {value}");
    if log.contains("panicked") {
        return Some(format!("{case}: a panic\n{log}"));
    }
    match (started, status.code()) {
        (true, Some(0)) => None,
        (false, Some(1))
            if log.contains(&format!("option {option} in group [{group}]"))
                && log.contains(&format!("'{value}'")) =>
        {
            None
        }
        _ => Some(format!(
            "{case}: started={started}, {status:?}, without an error naming the option and value\n{log}"
        )),
    }
}

#[test]
fn every_builtin_numeric_option_takes_the_extremes_without_a_panic() {
    let options = numeric_options();
    for expected in [
        "graceful_shutdown_timeout",
        "client_socket_timeout",
        "wsgi_default_pool_size",
        "lease_ttl",
    ] {
        assert!(
            options.iter().any(|(_, option)| option == expected),
            "{expected} missing from {options:?}"
        );
    }
    let cases: Vec<(String, String, &str)> = options
        .iter()
        .flat_map(|(group, option)| {
            EXTREMES
                .iter()
                .map(move |value| (group.clone(), option.clone(), *value))
        })
        .collect();
    let cases = Mutex::new(cases.into_iter());
    let failures = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..3 {
            scope.spawn(|| {
                loop {
                    let next = cases.lock().unwrap().next();
                    let Some((group, option, value)) = next else {
                        return;
                    };
                    if let Some(failure) = try_value(&group, &option, value) {
                        failures.lock().unwrap().push(failure);
                    }
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    assert!(
        failures.is_empty(),
        "{} of the extremes went wrong:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
