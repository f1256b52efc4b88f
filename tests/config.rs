//! Declared options seen from outside: the `hello` example's sample config, its start-up
//! log of option values, and a `mutate` reload that applies a mutable option and keeps
//! an immutable one, as real processes.

mod support;

use std::process::Command;

use support::{Service, Signal, Stdout, exit_code, has_line};

const HELLO: &str = env!("CARGO_BIN_EXE_hello");
const API: &str = env!("CARGO_BIN_EXE_api");

fn start(config: &str) -> Service {
    let service = Service::start(HELLO, config, Stdout::Null);
    service.expect_notify("READY=1");
    service
}

/// Runs `hello --check-config` on `file`, which it must refuse (exit 1); its stderr.
fn check_config_refuses(file: impl AsRef<std::ffi::OsStr>) -> String {
    let checked = Command::new(HELLO)
        .args(["--check-config", "--config-file"])
        .arg(file)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&checked.stderr).into_owned();
    assert_eq!(checked.status.code(), Some(1), "{err}");
    err
}

#[test]
fn generate_config_prints_every_option_and_parses_back_to_the_defaults() {
    let output = Command::new(HELLO)
        .args([
            "--generate-config",
            "--namespace",
            "hello",
            "--namespace",
            "oslo.service.service",
        ])
        .output()
        .expect("run hello");
    assert!(output.status.success(), "{output:?}");
    let sample = String::from_utf8(output.stdout).unwrap();
    assert!(sample.starts_with("[DEFAULT]\n"), "{sample}");
    assert!(
        sample.contains("\n[hello]\n\n#\n# From hello\n#\n"),
        "{sample}"
    );
    assert!(
        sample.contains(
            "# Note: This option can be changed without restarting.\n#greeting = hello, world\n"
        ),
        "{sample}"
    );
    assert!(
        sample.contains("#graceful_shutdown_timeout = 60\n"),
        "{sample}"
    );
    assert!(
        !sample.contains("wsgi"),
        "only the namespaces asked for\n{sample}"
    );

    // Uncommented, the sample is a config file holding the defaults: hello starts on
    // it and greets with the default greeting.
    let uncommented: String = sample
        .lines()
        .map(|line| match line.strip_prefix('#') {
            Some(rest)
                if !rest.starts_with(' ') && !rest.is_empty() && !rest.ends_with("<None>") =>
            {
                format!("{rest}\n")
            }
            _ => format!("{line}\n"),
        })
        .collect();
    assert!(
        uncommented.contains("\ngreeting = hello, world\n"),
        "{uncommented}"
    );
    let mut service = start(&uncommented);
    assert!(
        service
            .log()
            .contains("hello started greeting=hello, world"),
        "{}",
        service.log()
    );
    service.signal(Signal::TERM);
    assert_eq!(exit_code(service.wait_exit()), 0, "{}", service.log());

    let bad = Command::new(HELLO)
        .args(["--generate-config", "--namespace", "nope"])
        .output()
        .expect("run hello");
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown namespace nope"));
}

#[test]
fn log_options_logs_every_value_at_debug_with_secrets_masked() {
    let mut service = start(
        "[DEFAULT]\ndebug = true\n[hello]\ntoken = s3cr3t\ngreeting = hi\n[hello]\ngreting = typo\n",
    );
    let log = service.log();
    let option = |name: &str, value: &str| {
        has_line(
            &log,
            &[
                "option value",
                &format!("option={name} "),
                &format!("value={value}"),
            ],
        )
    };
    assert!(option("hello.greeting", "hi"), "{log}");
    assert!(option("hello.token", "****"), "{log}");
    assert!(!log.contains("s3cr3t"), "{log}");
    assert!(option("DEFAULT.graceful_shutdown_timeout", "60"), "{log}");
    assert!(option("ssl.cert_file", "None"), "{log}");
    assert!(
        has_line(
            &log,
            &[
                "unknown options",
                "group=hello",
                "count=1",
                "options=greting (",
                "service.conf:7, did you mean `greeting`?)"
            ]
        ),
        "{log}"
    );
    service.signal(Signal::TERM);
    assert_eq!(exit_code(service.wait_exit()), 0, "{log}");
}

#[test]
fn sighup_in_mutate_mode_applies_mutable_options_only() {
    let config = |greeting: &str, timeout: u32| {
        format!(
            "[DEFAULT]\ngraceful_shutdown_timeout = {timeout}\n[hello]\nrestart_method = mutate\ngreeting = {greeting}\n"
        )
    };
    let mut service = start(&config("hello", 60));
    service.rewrite_config(&config("bonjour", 5));
    service.signal(Signal::HUP);
    service.expect_notify("RELOADING=1");
    service.expect_notify("READY=1");

    let log = service.log();
    assert!(log.contains("hello reset greeting=bonjour"), "{log}");
    assert!(
        has_line(
            &log,
            &[
                "ignoring change to immutable option",
                "group=DEFAULT",
                "option=graceful_shutdown_timeout"
            ]
        ),
        "{log}"
    );
    assert!(
        log.contains("option changed group=hello option=greeting old=\"hello\" new=\"bonjour\""),
        "{log}"
    );
    service.signal(Signal::TERM);
    assert_eq!(exit_code(service.wait_exit()), 0, "{}", service.log());
}

#[test]
fn a_bad_value_stops_the_start_with_file_line_group_option_and_value() {
    Service::expect_start_refused(
        HELLO,
        "[hello]\n\nrestart_method = sometimes\n",
        "3: invalid value 'sometimes' for option restart_method in group [hello]: expected one of 'reload', 'mutate'",
    );
}

#[test]
fn a_config_dir_entry_that_is_no_file_is_an_error_at_start_and_on_reload() {
    let config = "[DEFAULT]\n[hello]\n";
    let with_dir = |dir: &std::path::Path| {
        let mut command = Command::new(HELLO);
        command.arg("--config-dir").arg(dir);
        Service::start_command(command, config, Stdout::Null, None)
    };

    // At start: the process exits 1 and says which entry.
    let dir = tempfile::tempdir().unwrap();
    let entry = dir.path().join("zz.conf");
    std::fs::create_dir(&entry).unwrap();
    let mut refused = with_dir(dir.path());
    assert_eq!(exit_code(refused.wait_exit()), 1, "{}", refused.log());
    let log = refused.log();
    assert!(
        log.contains(&format!(
            "cannot read {}: not a regular file",
            entry.display()
        )),
        "{log}"
    );

    // On reload: refused whole, and the service runs on.
    let dir = tempfile::tempdir().unwrap();
    let mut service = with_dir(dir.path());
    service.expect_notify("READY=1");
    let entry = dir.path().join("zz.conf");
    std::fs::create_dir(&entry).unwrap();
    service.signal(Signal::HUP);
    service.expect_notify("RELOADING=1");
    service.expect_notify("READY=1");
    let log = service.log();
    assert!(
        has_line(&log, &["reload refused", &entry.display().to_string()]),
        "{log}"
    );
    assert!(service.is_running(), "{log}");
    service.signal(Signal::TERM);
    assert_eq!(exit_code(service.wait_exit()), 0, "{log}");
}

#[test]
fn values_are_substituted_as_oslo_config_does_in_files_and_the_environment() {
    let conf = "[DEFAULT]\nstate_path = /var/lib/hello\ndebug = true\n\
                [hello]\ngreeting = at $state_path and ${DEFAULT.state_path}, $$5\n";
    let service = start(conf);
    let log = service.log();
    assert!(
        log.contains("hello started greeting=at /var/lib/hello and /var/lib/hello, $5"),
        "{log}"
    );
    // log_options shows the value the program sees.
    assert!(
        has_line(
            &log,
            &[
                "option value",
                "option=hello.greeting ",
                "value=at /var/lib/hello"
            ]
        ),
        "{log}"
    );

    let mut command = Command::new(HELLO);
    command.env("OS_HELLO__GREETING", "from ${DEFAULT.state_path}");
    let service = Service::start_command(command, conf, Stdout::Null, None);
    service.expect_notify("READY=1");
    let log = service.log();
    assert!(
        log.contains("hello started greeting=from /var/lib/hello"),
        "{log}"
    );

    Service::expect_start_refused(
        HELLO,
        "[hello]\ngreeting = at $nowhere\n",
        "2: invalid value 'at $nowhere' for option greeting in group [hello]: $nowhere refers to DEFAULT.nowhere, which is set nowhere",
    );
}

#[test]
fn without_config_file_the_files_are_found_where_oslo_config_looks() {
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(home.path().join(".hello/hello.conf.d")).unwrap();
    std::fs::write(
        home.path().join(".hello/hello.conf"),
        "[hello]\ngreeting = from home\n",
    )
    .unwrap();
    std::fs::write(
        home.path().join(".hello/hello.conf.d/10-debug.conf"),
        "[DEFAULT]\ndebug = true\n",
    )
    .unwrap();
    let mut command = Command::new(HELLO);
    command.env("HOME", home.path());
    let service = Service::start_searching(command);
    service.expect_notify("READY=1");
    let log = service.log();
    assert!(log.contains("hello started greeting=from home"), "{log}");
    assert!(log.contains("hello runs with debug logging"), "{log}");
    // The files found are said at start.
    assert!(
        has_line(
            &log,
            &["configuration read", ".hello/hello.conf\"", "10-debug.conf"]
        ),
        "{log}"
    );

    // A --config-file given replaces the search (and a --config-dir given, the dirs').
    let mut command = Command::new(HELLO);
    command.env("HOME", home.path());
    let service = Service::start_command(
        command,
        "[hello]\ngreeting = from the command line\n",
        Stdout::Null,
        None,
    );
    service.expect_notify("READY=1");
    let log = service.log();
    assert!(log.contains("greeting=from the command line"), "{log}");
    assert!(log.contains("hello runs with debug logging"), "{log}");
}

#[test]
fn version_prints_the_programs_version_and_oslo_services() {
    let out = Command::new(HELLO).arg("--version").output().unwrap();
    assert!(out.status.success());
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("hello {version} (oslo-service {version})\n")
    );
    let help = Command::new(HELLO).arg("--help").output().unwrap();
    assert!(String::from_utf8_lossy(&help.stdout).contains("--version"));
}

#[test]
fn cli_options_are_flags_that_win_over_the_files_and_outlive_reloads() {
    let mut command = Command::new(HELLO);
    command.args(["--hello-greeting", "from the flag", "--debug"]);
    let service = Service::start_command(
        command,
        "[DEFAULT]\ndebug = false\n[hello]\ngreeting = from the file\n",
        Stdout::Null,
        None,
    );
    service.expect_notify("READY=1");
    let log = service.log();
    assert!(
        log.contains("hello started greeting=from the flag"),
        "{log}"
    );
    assert!(log.contains("hello runs with debug logging"), "{log}");
    service.signal(Signal::HUP);
    service.expect_notify("RELOADING=1");
    service.expect_notify("READY=1");
    let log = service.log();
    assert!(log.contains("hello reset greeting=from the flag"), "{log}");

    // The flags are in --help, and --nodebug is debug's negation.
    let help = Command::new(HELLO).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("--hello-greeting <VALUE>"), "{help}");
    assert!(help.contains("--nodebug"), "{help}");
    let unknown = Command::new(HELLO).arg("--hello-nope=1").output().unwrap();
    assert_eq!(unknown.status.code(), Some(2));
}

#[test]
fn a_program_brings_its_own_sub_commands_beside_the_services_flags() {
    const MANAGE: &str = env!("CARGO_BIN_EXE_manage");
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("manage.conf");
    std::fs::write(&conf, "[manage]\ngreeting = bonjour\n").unwrap();
    let run = |args: &[&str]| Command::new(MANAGE).args(args).output().unwrap();

    let greet = run(&[
        "--config-file",
        conf.to_str().unwrap(),
        "greet",
        "--times",
        "2",
    ]);
    assert!(greet.status.success());
    assert_eq!(String::from_utf8_lossy(&greet.stdout), "bonjour\nbonjour\n");
    // An #[opt(cli)] flag wins over the file, beside the sub-command.
    let flag = run(&[
        "--config-file",
        conf.to_str().unwrap(),
        "--manage-greeting",
        "hi",
        "greet",
    ]);
    assert_eq!(String::from_utf8_lossy(&flag.stdout), "hi\n");

    // One --help for both; a run without the sub-command the program requires is refused.
    let help = String::from_utf8_lossy(&run(&["--help"]).stdout).into_owned();
    for part in [
        "greet",
        "files",
        "--config-file",
        "--manage-greeting",
        "--generate-config",
        // The usage says a run needs a sub-command, and what needs none.
        "Usage: manage [OPTIONS] <COMMAND>\n",
        "manage [OPTIONS] --check-config | --generate-config | --version",
    ] {
        assert!(help.contains(part), "{part}: {help}");
    }
    assert_eq!(run(&[]).status.code(), Some(2));
    assert!(run(&["--generate-config"]).status.success());
}

/// `--check-config` reads the configuration as a start would and says everything that
/// is wrong at once (exit 1), or that it is fine (exit 0), starting nothing: no socket
/// is bound, no etcd reached. Unknown options are warnings.
#[test]
fn check_config_says_what_a_start_would_refuse_and_starts_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("console.sock");
    let good = dir.path().join("good.conf");
    std::fs::write(
        &good,
        format!(
            "[DEFAULT]\nbackdoor_socket = {}\n[hello]\ngreeting = hi\ngreting = typo\n",
            socket.display()
        ),
    )
    .unwrap();
    let checked = Command::new(HELLO)
        .args(["--check-config", "--config-file"])
        .arg(&good)
        .output()
        .unwrap();
    let (out, err) = (
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr),
    );
    assert!(checked.status.success(), "{out}{err}");
    assert!(out.contains("configuration OK (1 file: "), "{out}");
    assert!(
        err.contains("service.conf:5: unknown option in group [hello]: greting (")
            || err.contains("good.conf:5: unknown option in group [hello]: greting ("),
        "{err}"
    );
    assert!(err.contains("did you mean `greeting`?"), "{err}");
    assert!(!socket.exists(), "the console was started");

    let bad = dir.path().join("bad.conf");
    std::fs::write(
        &bad,
        "[DEFAULT]\nbackdoor_port = 99999\nwsgi_log_format = %(nope)s\n\
         syslog_log_facility = LOG_NOPE\n\
         [coordination]\nbackend_url = etcd3+https://oslo:S3cret@etcd:2379\n",
    )
    .unwrap();
    let err = check_config_refuses(&bad);
    let file = bad.display();
    for expected in [
        format!("{file}:2: invalid value '99999' for option backdoor_port"),
        format!("{file}:3: invalid value '%(nope)s' for option wsgi_log_format"),
        format!("{file}:4: invalid value 'LOG_NOPE' for option syslog_log_facility"),
        format!(
            "{file}:6: invalid value 'etcd3+https://oslo:****@etcd:2379' for option backend_url"
        ),
    ] {
        assert!(err.contains(&expected), "no '{expected}' in:\n{err}");
    }
    assert!(!err.contains("S3cret"), "{err}");
}

/// A file with mistakes in several groups, of several kinds: `--check-config` names
/// every one, each with its file and line, then exits 1; a start names every bad value
/// of its groups too.
#[test]
fn check_config_names_every_bad_value_of_every_group_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("mistakes.conf");
    std::fs::write(
        &file,
        "[DEFAULT]\ndebug = maybe\ngraceful_shutdown_timeout = soon\n\
         [hello]\nrestart_method = sometimes\nfail_on_start = perhaps\ngreeting = hi $nobody\n\
         [coordination]\nbackend_url = etcd3+https://oslo:pa?ss77@etcd:2379\n",
    )
    .unwrap();
    let err = check_config_refuses(&file);
    let path = file.display();
    let values = [
        (2, "'maybe' for option debug in group [DEFAULT]"),
        (
            3,
            "'soon' for option graceful_shutdown_timeout in group [DEFAULT]",
        ),
        (5, "'sometimes' for option restart_method in group [hello]"),
        (6, "'perhaps' for option fail_on_start in group [hello]"),
        (7, "'hi $nobody' for option greeting in group [hello]"),
    ];
    for (line, what) in values {
        let expected = format!("hello: {path}:{line}: invalid value {what}: ");
        assert!(
            err.lines().any(|said| said.starts_with(&expected)),
            "no '{expected}' in:\n{err}"
        );
    }
    // The runtime's own check of a group that reads, masked whole: no parser reads it.
    let expected = format!(
        "hello: {path}:9: invalid value '****' for option backend_url in group [coordination]"
    );
    assert!(err.contains(&expected), "no '{expected}' in:\n{err}");
    assert!(!err.contains("ss77"), "{err}");
    assert_eq!(err.lines().count(), values.len() + 1, "{err}");

    // A start reads the same values the same way.
    let config = std::fs::read_to_string(&file).unwrap();
    let mut service = Service::start(HELLO, &config, Stdout::Null);
    assert_eq!(exit_code(service.wait_exit()), 1, "{}", service.log());
    let log = service.log();
    let path = service.config_path().display().to_string();
    for (line, what) in values {
        let expected = format!("{path}:{line}: invalid value {what}: ");
        assert!(log.contains(&expected), "no '{expected}' in:\n{log}");
    }
}

/// A `$` in a secret that starts no reference: the start, `--check-config` and a
/// refused reload name the option and the escape, `$$`, and nothing of the secret,
/// whether it is a secret option or a URL's password.
#[test]
fn a_dollar_in_a_secret_names_the_option_and_the_escape_never_the_text() {
    let config = "[DEFAULT]\ntransport_url = rabbit://nova:pa$word9@host:5672/\n\
                  [hello]\ngreeting = hi\ntoken = Sup3r$ecret\n";
    let leaks = ["$ecret", "Sup3r", "$word9", "word9", "DEFAULT.ecret"];
    let said = |text: &str| {
        for expected in [
            "2: invalid value 'rabbit://nova:****@host:5672/' for option transport_url in group [DEFAULT]: a `$` in DEFAULT.transport_url, a secret (not shown)",
            "5: invalid value '****' for option token in group [hello]: a `$` in hello.token, a secret (not shown)",
        ] {
            assert!(text.contains(expected), "no '{expected}' in:\n{text}");
        }
        assert!(text.contains("is written `$$`"), "{text}");
        for leak in leaks {
            assert!(!text.contains(leak), "{leak} in:\n{text}");
        }
    };
    // At start.
    let mut service = Service::start(HELLO, config, Stdout::Null);
    assert_eq!(exit_code(service.wait_exit()), 1, "{}", service.log());
    said(&service.log());

    // By --check-config.
    let err = check_config_refuses(service.config_path());
    said(&err);

    // On a reload: refused, the service runs on, and the log says why without it.
    let mut service = start("[hello]\ngreeting = hi\n");
    service.rewrite_config(config);
    service.signal(Signal::HUP);
    service.wait_log("reload refused");
    said(&service.log());
    assert!(service.is_running());
    service.signal(Signal::TERM);
    assert_eq!(exit_code(service.wait_exit()), 0, "{}", service.log());
}

#[test]
fn typos_in_groups_and_options_are_said_once_for_the_host_with_what_was_meant() {
    let config = "[DEFAULT]\ndebug = true\n[api]\nport = 0\nworkers = 3\nprot = 1\n\
                  [apii]\nhost = 0.0.0.0\n[database]\nconnection = sqlite://\n";
    let mut service = Service::start(API, config, Stdout::Null);
    service.expect_notify("READY=1");
    let file = service.config_path().display().to_string();
    let log = service.log();
    let undeclared = "options group that no declaration of this program knows";
    assert!(
        has_line(
            &log,
            &[
                undeclared,
                "group=apii",
                &format!("at={file}:8"),
                "did_you_mean=api"
            ]
        ),
        "{log}"
    );
    // Far from every declared name: no suggestion.
    assert!(has_line(&log, &[undeclared, "group=database"]), "{log}");
    assert!(
        !has_line(&log, &[undeclared, "group=database", "did_you_mean"]),
        "{log}"
    );
    assert!(
        has_line(
            &log,
            &[
                "unknown options",
                "group=api",
                &format!("options=prot ({file}:6, did you mean `port`?)")
            ]
        ),
        "{log}"
    );
    // The parent says it; none of its 3 workers does.
    assert_eq!(service.log_count("group=apii"), 1, "{log}");
    assert_eq!(service.log_count("unknown options"), 1, "{log}");

    // A reload says it again, once: a typo may come with any edit.
    service.signal(Signal::HUP);
    service.expect_notify("RELOADING=1");
    service.expect_notify("READY=1");
    let log = service.log();
    assert_eq!(service.log_count("group=apii"), 2, "{log}");
    assert_eq!(service.log_count("unknown options"), 2, "{log}");
    service.signal(Signal::TERM);
    assert_eq!(exit_code(service.wait_exit()), 0, "{log}");
}

#[test]
fn fatal_unknown_options_refuses_a_start_and_check_config_says_why() {
    let config = "[DEFAULT]\nfatal_unknown_options = true\n[inventroy]\nport = 1\n";
    Service::expect_start_refused(
        HELLO,
        config,
        "4: no options group of this program declares [inventroy] (fatal_unknown_options is set)",
    );
    let config = "[DEFAULT]\nfatal_unknown_options = true\n[helo]\ngreeting = hi\n";
    Service::expect_start_refused(
        HELLO,
        config,
        "4: no options group of this program declares [helo] (did you mean [hello]?) (fatal_unknown_options is set)",
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("svc.conf");
    std::fs::write(&file, config).unwrap();
    let err = check_config_refuses(&file);
    assert!(err.contains("did you mean [hello]?"), "{err}");
}
