//! The in-process launcher's lifecycle, driven through the `hello` example as a real
//! process: readiness over a real notify socket, real signals, real exit statuses.

mod support;

use std::time::{Duration, Instant};

use support::{Service, Signal, Stdout, exit_code, has_line};

const HELLO: &str = env!("CARGO_BIN_EXE_hello");

fn config(extra_default: &str, hello: &str) -> String {
    format!("[DEFAULT]\n{extra_default}\n[hello]\n{hello}\n")
}

fn start(config: &str) -> Service {
    let service = Service::start(HELLO, config, Stdout::Null);
    service.expect_notify("READY=1");
    service
}

#[test]
fn sigterm_stops_gracefully_and_exits_0() {
    let mut service = start(&config("", "greeting = bonjour"));
    assert!(
        service.log().contains("hello started greeting=bonjour"),
        "{}",
        service.log()
    );

    service.signal(Signal::TERM);
    service.expect_notify("STOPPING=1");
    assert_eq!(exit_code(service.wait_exit()), 0, "{}", service.log());
    let log = service.log();
    assert!(
        has_line(&log, &["caught signal", "signal=SIGTERM"]),
        "{log}"
    );
    assert!(log.contains("hello stopping"), "{log}");
}

#[test]
fn the_periodic_task_runs_once_started() {
    let mut service = start(&config("", "greeting = salut"));
    let log = service.wait_for_log("periodic greeting greeting=salut", 1);
    assert!(
        log.find("hello started").unwrap() < log.find("periodic greeting").unwrap(),
        "{log}"
    );
    service.signal(Signal::TERM);
    assert_eq!(exit_code(service.wait_exit()), 0, "{}", service.log());
}

#[test]
fn a_stop_hook_that_hangs_is_cut_off_by_graceful_shutdown_timeout() {
    let mut service = start(&config(
        "graceful_shutdown_timeout = 1",
        "hang_on_stop = true",
    ));
    let sent = Instant::now();
    service.signal(Signal::TERM);
    let status = service.wait_exit();
    let waited = sent.elapsed();
    assert_eq!(exit_code(status), 1, "{}", service.log());
    // The timeout is honoured, not skipped: the process waited for it.
    assert!(
        waited >= Duration::from_millis(900),
        "exited after {waited:?}"
    );
    let log = service.log();
    assert!(log.contains("hello stopping"), "{log}");
    assert!(
        log.contains("graceful shutdown timeout exceeded, exiting"),
        "{log}"
    );
}

#[test]
fn sigint_exits_at_once_with_status_1() {
    let name = format!("oslo-hello-test-{}", std::process::id());
    // A stop hook that would hang shows that SIGINT does not go through the stop.
    let service = Service::start_with_notify(
        HELLO,
        &config("", "hang_on_stop = true"),
        Stdout::Null,
        Some(&name),
    );
    service.expect_notify("READY=1");
    let mut service = service;
    service.signal(Signal::INT);
    assert_eq!(exit_code(service.wait_exit()), 1, "{}", service.log());
    let log = service.log();
    assert!(log.contains("caught SIGINT, exiting at once"), "{log}");
    assert!(!log.contains("hello stopping"), "{log}");
}

#[test]
fn sighup_in_a_daemon_reloads_config_and_restarts_the_service() {
    let mut service = start(&config("debug = false", "greeting = hello"));
    assert!(
        !service.log().contains("debug logging"),
        "{}",
        service.log()
    );

    service.rewrite_config(&config("debug = true", "greeting = bonjour"));
    service.signal(Signal::HUP);
    service.expect_notify("RELOADING=1");
    service.expect_notify("READY=1");
    assert!(service.is_running());

    let log = service.log();
    assert!(
        has_line(&log, &["caught signal, reloading", "signal=SIGHUP"]),
        "{log}"
    );
    assert!(
        log.contains("hello stopping"),
        "reload mode stops the service first\n{log}"
    );
    assert!(log.contains("hello reset greeting=bonjour"), "{log}");
    assert!(log.contains("hello started greeting=bonjour"), "{log}");
    assert!(
        log.contains("hello runs with debug logging"),
        "new log level applied\n{log}"
    );

    service.signal(Signal::TERM);
    assert_eq!(exit_code(service.wait_exit()), 0, "{}", service.log());
}

#[test]
fn sighup_in_mutate_mode_resets_in_place() {
    let mut service = start(&config("", "restart_method = mutate\ngreeting = hello"));
    service.rewrite_config(&config("", "restart_method = mutate\ngreeting = bonjour"));
    service.signal(Signal::HUP);
    service.expect_notify("RELOADING=1");
    service.expect_notify("READY=1");

    let log = service.log();
    assert!(log.contains("hello reset greeting=bonjour"), "{log}");
    assert!(
        !log.contains("hello stopping"),
        "mutate mode does not stop\n{log}"
    );
    assert_eq!(service.log_count("hello started"), 1, "{log}");
    assert!(service.is_running());
}

#[test]
fn a_reload_with_a_bad_config_is_refused_and_the_service_keeps_running() {
    let mut service = start(&config("", "greeting = hello"));
    service.rewrite_config(&config(
        "graceful_shutdown_timeout = soon",
        "greeting = bonjour",
    ));
    service.signal(Signal::HUP);
    service.expect_notify("RELOADING=1");
    service.expect_notify("READY=1");

    let log = service.log();
    assert!(log.contains("reload refused"), "{log}");
    assert!(
        log.contains("invalid value 'soon' for option graceful_shutdown_timeout"),
        "{log}"
    );
    assert!(!log.contains("bonjour"), "{log}");
    assert!(!log.contains("hello stopping"), "{log}");
    assert!(service.is_running());
}

#[test]
fn sighup_in_a_terminals_foreground_exits() {
    let mut service = Service::start(HELLO, &config("", ""), Stdout::Terminal);
    service.expect_notify("READY=1");
    service.signal(Signal::HUP);
    assert_eq!(exit_code(service.wait_exit()), 1, "{}", service.log());
    let log = service.log();
    assert!(
        has_line(
            &log,
            &["caught signal in a terminal's foreground", "signal=SIGHUP"]
        ),
        "{log}"
    );
    assert!(log.contains("hello stopping"), "{log}");
}

#[test]
fn a_failing_start_exits_1_and_logs_why() {
    let mut service = Service::start(HELLO, &config("", "fail_on_start = true"), Stdout::Null);
    assert_eq!(exit_code(service.wait_exit()), 1, "{}", service.log());
    let log = service.log();
    assert!(
        log.contains("service hello failed to start: fail_on_start is set in [hello]"),
        "{log}"
    );
}

#[test]
fn a_bad_config_value_stops_the_start_naming_file_line_group_and_option() {
    Service::expect_start_refused(
        HELLO,
        &config("\ngraceful_shutdown_timeout = -3", ""),
        "3: invalid value '-3' for option graceful_shutdown_timeout in group [DEFAULT]",
    );
}

#[test]
fn sigterm_in_the_first_milliseconds_is_a_clean_exit() {
    // Once the program runs its own code, there is no window where SIGTERM takes its
    // default action: it waits for the launcher, which stops cleanly. (Between exec and
    // the Rust runtime's start, only the one who starts the process can hold signals
    // back, by starting it with them blocked, as the launcher does for its workers.)
    let mut unclean = Vec::new();
    for run in 0..50_u32 {
        let delay = Duration::from_micros(u64::from(run) * 200);
        let mut service = Service::start(HELLO, &config("", ""), Stdout::Null);
        service.wait_running_own_code();
        let from = Instant::now();
        while from.elapsed() < delay {
            std::hint::spin_loop();
        }
        service.signal(Signal::TERM);
        let status = service.wait_exit();
        if status.code() != Some(0) {
            unclean.push(format!("{delay:?}: {status:?}\n{}", service.log()));
        }
    }
    assert!(
        unclean.is_empty(),
        "{} unclean exits:\n{}",
        unclean.len(),
        unclean.join("\n")
    );
}

/// Starts hello with `WATCHDOG_USEC` (and `WATCHDOG_PID`, if given) set as systemd sets
/// them; returns it once ready.
fn start_watched(usec: u64, pid: Option<&str>) -> Service {
    let mut command = std::process::Command::new(HELLO);
    command.env("WATCHDOG_USEC", usec.to_string());
    if let Some(pid) = pid {
        command.env("WATCHDOG_PID", pid);
    }
    let service = Service::start_command(command, &config("", ""), Stdout::Null, None);
    service.expect_notify("READY=1");
    service
}

#[test]
fn the_watchdog_is_fed_at_half_its_period_while_the_signal_loop_runs() {
    let service = start_watched(200_000, None);
    let heard = service.notifications_for(Duration::from_millis(1000));
    let fed = heard.iter().filter(|m| *m == "WATCHDOG=1").count();
    // Every 100 ms for a second; the bound only tells feeding from not feeding.
    assert!(fed >= 3, "{heard:?}");

    // WATCHDOG_PID names another process: the watchdog is not this one's to feed.
    let other = start_watched(200_000, Some("1"));
    let heard = other.notifications_for(Duration::from_millis(500));
    assert!(!heard.iter().any(|m| m == "WATCHDOG=1"), "{heard:?}");
}

#[test]
fn logrotates_move_then_sighup_continues_the_log_in_a_new_file() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("hello.log");
    let service = start(&config(&format!("log_file = {}", log.display()), ""));
    let rotated = dir.path().join("hello.log.1");
    std::fs::rename(&log, &rotated).unwrap();
    service.signal(Signal::HUP);
    service.expect_notify("RELOADING=1");
    service.expect_notify("READY=1");
    let before = std::fs::read_to_string(&rotated).unwrap();
    let after = std::fs::read_to_string(&log).unwrap();
    assert!(before.contains("hello started"), "{before}");
    assert!(after.contains("configuration reloaded"), "{after}");
    assert!(after.contains("hello reset"), "{after}");
    assert!(!before.contains("configuration reloaded"), "{before}");
}

#[test]
fn setup_in_reset_reapplies_the_whole_log_set_up() {
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("first.log");
    let second = dir.path().join("second.log");
    let service = start(&config(&format!("log_file = {}", first.display()), ""));
    service.rewrite_config(&config(
        &format!("log_file = {}\nuse_json = true", second.display()),
        "",
    ));
    service.signal(Signal::HUP);
    service.expect_notify("RELOADING=1");
    service.expect_notify("READY=1");
    let started = std::fs::read_to_string(&second).unwrap();
    // hello's reset hook calls log::setup: the new file, in the new format.
    let line = started
        .lines()
        .find(|line| line.contains("hello started"))
        .unwrap_or_else(|| panic!("{started}"));
    assert!(
        line.starts_with('{') && line.contains("\"greeting\""),
        "{line}"
    );
    assert!(
        std::fs::read_to_string(&first)
            .unwrap()
            .contains("caught signal")
    );
}

/// As oslo.service does after each SIGHUP, `log_options` logs the values now in force.
#[test]
fn log_options_logs_the_values_again_after_each_reload() {
    let service = start(&config("debug = true", "greeting = hello"));
    let before = service.log_count("option value");
    assert!(before > 0, "{}", service.log());
    service.rewrite_config(&config("debug = true", "greeting = bonjour"));
    service.signal(Signal::HUP);
    service.expect_notify("RELOADING=1");
    service.expect_notify("READY=1");
    assert_eq!(
        service.log_count("option value"),
        2 * before,
        "{}",
        service.log()
    );
    assert!(
        has_line(
            &service.log(),
            &["option value", "option=hello.greeting", "value=bonjour"]
        ),
        "{}",
        service.log()
    );
}
