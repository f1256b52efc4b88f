use std::collections::BTreeMap;

use super::*;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn later_files_win_and_dirs_come_after_files_in_sorted_order() {
    let dir = tempfile::tempdir().unwrap();
    let first = write(dir.path(), "first.ini", "[a]\nk = first\nonly_first = 1\n");
    let second = write(dir.path(), "second.ini", "[a]\nk = second\n");
    let confd = dir.path().join("conf.d");
    std::fs::create_dir(&confd).unwrap();
    write(&confd, "20-b.conf", "[a]\nk = dir-20\n");
    write(&confd, "10-a.conf", "[a]\nk = dir-10\n");
    write(&confd, "99-ignored.txt", "[a]\nk = ignored\n");

    let sources = ConfigSources {
        files: vec![first.clone(), second],
        dirs: vec![],
        ..ConfigSources::default()
    };
    let conf = Config::load(sources.clone()).unwrap();
    assert_eq!(
        conf.get::<String>("a", "k").unwrap().as_deref(),
        Some("second")
    );
    assert_eq!(conf.get::<u32>("a", "only_first").unwrap(), Some(1));

    let conf = Config::load(ConfigSources {
        dirs: vec![confd],
        ..sources
    })
    .unwrap();
    assert_eq!(
        conf.get::<String>("a", "k").unwrap().as_deref(),
        Some("dir-20")
    );
}

#[test]
fn group_and_option_names_are_normalized() {
    let snapshot = Snapshot::from_ini("[API]\nbind-host = h\n", None).unwrap();
    assert_eq!(
        snapshot
            .get::<String>("api", "bind_host")
            .unwrap()
            .as_deref(),
        Some("h")
    );
    assert_eq!(
        snapshot
            .get::<String>("Api", "bind-host")
            .unwrap()
            .as_deref(),
        Some("h")
    );
}

#[test]
fn repeated_keys_accumulate_within_a_file_and_are_replaced_by_a_later_file() {
    let dir = tempfile::tempdir().unwrap();
    let a = write(dir.path(), "a.conf", "[DEFAULT]\nm = 1\nm = 2\n");
    let conf = Config::load(ConfigSources::from_files([&a])).unwrap();
    let values: Vec<_> = conf
        .snapshot()
        .raw_all("DEFAULT", "m")
        .iter()
        .map(|v| v.text.clone())
        .collect();
    assert_eq!(values, ["1", "2"]);

    let b = write(dir.path(), "b.conf", "[DEFAULT]\nm = 3\n");
    let conf = Config::load(ConfigSources::from_files([&a, &b])).unwrap();
    assert_eq!(conf.snapshot().raw_all("DEFAULT", "m").len(), 1);
}

#[test]
fn a_number_out_of_its_range_names_the_range_from_any_source() {
    let dir = tempfile::tempdir().unwrap();
    let ini = write(
        dir.path(),
        "svc.conf",
        "[DEFAULT]\ngraceful_shutdown_timeout = 18446744073709551615\n",
    );
    let toml = write(
        dir.path(),
        "svc.toml",
        "graceful_shutdown_timeout = 9223372036854775807\n",
    );
    for file in [&ini, &toml] {
        let message = Config::load(ConfigSources::from_files([file]))
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("option graceful_shutdown_timeout in group [DEFAULT]")
                && message.contains("expected a value from 0 to 31536000"),
            "{message}"
        );
    }
}

#[test]
fn a_bad_value_names_file_line_group_option_and_value() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "svc.conf",
        "[DEFAULT]\n\ngraceful_shutdown_timeout = soon\n",
    );
    let message = Config::load(ConfigSources::from_files([&file]))
        .unwrap_err()
        .to_string();
    let expected = format!(
        "{}:3: invalid value 'soon' for option graceful_shutdown_timeout in group [DEFAULT]",
        file.display()
    );
    assert!(message.starts_with(&expected), "{message}");
}

#[test]
fn a_bad_duration_in_a_file_says_what_a_duration_looks_like() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "svc.conf", "[poller]\ninterval = soon\n");
    let message = load_poller(&[&file]).unwrap_err().to_string();
    assert_eq!(
        message,
        format!(
            "{}:2: invalid value 'soon' for option interval in group [poller]: \
             `soon` is not a duration; expected a duration such as 10s, 1m30s, 250ms or a number of seconds",
            file.display()
        )
    );
}

#[test]
fn a_syntax_error_names_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "svc.conf", "[DEFAULT]\noops\n");
    let message = Config::load(ConfigSources::from_files([&file]))
        .unwrap_err()
        .to_string();
    assert_eq!(
        message,
        format!("{}:2: expected 'key = value'", file.display())
    );
}

#[test]
fn a_missing_file_is_an_error_naming_it() {
    let message = Config::load(ConfigSources::from_files(["/nonexistent/svc.conf"]))
        .unwrap_err()
        .to_string();
    assert!(
        message.starts_with("cannot read /nonexistent/svc.conf"),
        "{message}"
    );
}

#[test]
fn reload_replaces_values_but_keeps_old_snapshots_whole() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "svc.conf", "[a]\nk = 1\n");
    let conf = Config::load(ConfigSources::from_files([&file])).unwrap();
    let before = conf.snapshot();
    write(dir.path(), "svc.conf", "[a]\nk = 2\nnew = x\n");
    let changed = conf.reload().unwrap();
    assert_eq!(
        changed,
        [
            ("a".to_owned(), "k".to_owned()),
            ("a".to_owned(), "new".to_owned())
        ]
    );
    assert_eq!(conf.get::<u32>("a", "k").unwrap(), Some(2));
    assert_eq!(before.get::<u32>("a", "k").unwrap(), Some(1));
}

#[test]
fn a_bad_reload_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "svc.conf", "[a]\nk = 1\n");
    let conf = Config::load(ConfigSources::from_files([&file])).unwrap();
    write(
        dir.path(),
        "svc.conf",
        "[a]\nk = 2\n[DEFAULT]\ngraceful_shutdown_timeout = x\n",
    );
    assert!(conf.reload().is_err());
    write(
        dir.path(),
        "svc.conf",
        "[a]\nk = 2\n[DEFAULT]\ngraceful_shutdown_timeout = 18446744073709551615\n",
    );
    let error = conf.reload().unwrap_err().to_string();
    assert!(
        error.contains("expected a value from 0 to 31536000"),
        "{error}"
    );
    write(dir.path(), "svc.conf", "[a\n");
    assert!(conf.reload().is_err());
    assert_eq!(conf.get::<u32>("a", "k").unwrap(), Some(1));
}

#[test]
fn mutate_keeps_immutable_runtime_options() {
    let dir = tempfile::tempdir().unwrap();
    let text = "[DEFAULT]\ngraceful_shutdown_timeout = 5\ndebug = false\n[a]\nk = 1\n";
    let file = write(dir.path(), "svc.conf", text);
    let conf = Config::load(ConfigSources::from_files([&file])).unwrap();
    write(
        dir.path(),
        "svc.conf",
        "[DEFAULT]\ngraceful_shutdown_timeout = 9\ndebug = true\n[a]\nk = 2\n",
    );
    conf.mutate().unwrap();
    assert_eq!(
        conf.get::<u64>("DEFAULT", "graceful_shutdown_timeout")
            .unwrap(),
        Some(5)
    );
    assert_eq!(conf.get::<bool>("DEFAULT", "debug").unwrap(), Some(true));
    assert_eq!(conf.get::<u32>("a", "k").unwrap(), Some(2));
}

/// A group of the tests.
#[crate::options(group = "poller", namespace = "test", crate = "crate")]
#[derive(Debug, PartialEq)]
struct PollerOpts {
    /// Time between polls.
    #[opt(default = "30s", mutable)]
    interval: std::time::Duration,
    /// Port.
    #[opt(default = 8080)]
    port: Port,
    /// Endpoints.
    #[opt(default = ["a"])]
    endpoints: Vec<String>,
    /// Labels.
    labels: BTreeMap<String, String>,
    /// Token.
    #[opt(secret, mutable)]
    token: Option<String>,
}

fn load_poller(files: &[&Path]) -> Result<Config, ConfigError> {
    Config::load_with(
        ConfigSources::from_files(files),
        &[GroupInfo::of::<PollerOpts>()],
    )
}

#[test]
fn a_group_read_but_not_registered_is_an_error_saying_how_to_register_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "svc.conf", "[poller]\nport = abc\n");
    // Not registered: not checked at start, so the bad port is not seen...
    let conf = Config::load(ConfigSources::from_files([&file])).unwrap();
    // ...and reading the group says why, not the value.
    let text = conf.group::<PollerOpts>().unwrap_err().to_string();
    assert!(text.contains("[poller]"), "{text}");
    assert!(
        text.contains("#[oslo::main(options = [PollerOpts])]"),
        "{text}"
    );
    // The runtime's own groups are always registered.
    conf.group::<ServiceOptions>().unwrap();
    // Registered, the bad value stops the start.
    let err = load_poller(&[&file]).err().unwrap().to_string();
    assert!(err.contains("port") && err.contains("abc"), "{err}");
    // A configuration built in memory, as a test builds one, reads any group.
    let conf = Config::from_snapshot(Snapshot::from_ini("[poller]\nport = 7\n", None).unwrap());
    assert_eq!(conf.group::<PollerOpts>().unwrap().port, Port(7));
}

#[test]
fn typed_groups_are_read_once_per_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "svc.conf",
        "[poller]\ninterval = 5\nlabels = a:1\n",
    );
    let conf = load_poller(&[&file]).unwrap();
    let first = conf.group::<PollerOpts>().unwrap();
    assert_eq!(first.interval, std::time::Duration::from_secs(5));
    assert_eq!(first.port, Port(8080));
    assert_eq!(first.labels["a"], "1");
    assert!(Arc::ptr_eq(&first, &conf.group::<PollerOpts>().unwrap()));
    write(dir.path(), "svc.conf", "[poller]\ninterval = 6\n");
    conf.reload().unwrap();
    let second = conf.group::<PollerOpts>().unwrap();
    assert_eq!(second.interval, std::time::Duration::from_secs(6));
    assert_eq!(first.interval, std::time::Duration::from_secs(5));
}

#[test]
fn a_bad_value_of_a_declared_group_stops_the_load_and_the_reload() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "svc.conf", "[poller]\n\nport = 70000\n");
    let message = load_poller(&[&file]).unwrap_err().to_string();
    assert_eq!(
        message,
        format!(
            "{}:3: invalid value '70000' for option port in group [poller]: expected a port number from 0 to 65535",
            file.display()
        )
    );
    write(dir.path(), "svc.conf", "[poller]\nport = 1\n");
    let conf = load_poller(&[&file]).unwrap();
    write(dir.path(), "svc.conf", "[poller]\nport = x\n");
    assert!(conf.reload().is_err());
    assert_eq!(conf.group::<PollerOpts>().unwrap().port, Port(1));
}

#[test]
fn every_bad_value_of_every_group_is_named_at_once_in_the_order_of_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "svc.conf",
        "[poller]\nport = 70000\ninterval = never\nlabels = $nowhere\ntoken = ab$cd\n\
         [DEFAULT]\ndebug = maybe\ngraceful_shutdown_timeout = soon\n",
    );
    let err = load_poller(&[&file]).unwrap_err();
    assert!(matches!(err, ConfigError::Several(_)), "{err:?}");
    let message = err.to_string();
    let lines: Vec<&str> = message.lines().collect();
    let at = |line: usize, rest: &str| format!("{}:{line}: invalid value {rest}", file.display());
    let expected = [
        at(2, "'70000' for option port in group [poller]"),
        at(3, "'never' for option interval in group [poller]"),
        at(
            4,
            "'$nowhere' for option labels in group [poller]: $nowhere refers to",
        ),
        at(
            5,
            "'****' for option token in group [poller]: a `$` in poller.token, a secret",
        ),
        at(7, "'maybe' for option debug in group [DEFAULT]"),
        at(
            8,
            "'soon' for option graceful_shutdown_timeout in group [DEFAULT]",
        ),
    ];
    assert_eq!(lines.len(), expected.len(), "{message}");
    for (line, expected) in lines.iter().zip(&expected) {
        assert!(
            line.starts_with(expected.as_str()),
            "{line}\nis not\n{expected}"
        );
    }
    assert!(
        !message.contains("ab$") && !message.contains("$cd"),
        "{message}"
    );
    // A reload says them all too, on one line where one line is all there is.
    write(dir.path(), "svc.conf", "[poller]\nport = 1\n");
    let conf = load_poller(&[&file]).unwrap();
    write(
        dir.path(),
        "svc.conf",
        "[poller]\nport = x\n[DEFAULT]\ndebug = maybe\n",
    );
    assert_eq!(conf.reload().unwrap_err().each().count(), 2);
    let refused = conf.last_refused_reload().unwrap();
    assert!(
        refused.contains("option port in group [poller]")
            && refused.contains("; ")
            && refused.contains("option debug in group [DEFAULT]")
            && !refused.contains('\n'),
        "{refused}"
    );
}

#[test]
fn toml_files_and_their_errors() {
    let dir = tempfile::tempdir().unwrap();
    let ini = write(dir.path(), "a.conf", "[poller]\nport = 1\ninterval = 1\n");
    let toml = write(
        dir.path(),
        "b.toml",
        "graceful_shutdown_timeout = 7\n[poller]\nport = 2\nendpoints = [\"x\", \"y\"]\nlabels = { k = \"v\" }\n",
    );
    let conf = load_poller(&[&ini, &toml]).unwrap();
    let poller = conf.group::<PollerOpts>().unwrap();
    assert_eq!(poller.port, Port(2));
    assert_eq!(poller.interval, std::time::Duration::from_secs(1));
    assert_eq!(poller.endpoints, ["x", "y"]);
    assert_eq!(poller.labels["k"], "v");
    assert_eq!(
        conf.group::<ServiceOptions>()
            .unwrap()
            .graceful_shutdown_timeout,
        7
    );

    let bad = write(dir.path(), "c.toml", "[poller]\nport = 99999\n");
    let message = load_poller(&[&bad]).unwrap_err().to_string();
    assert_eq!(
        message,
        format!(
            "{}: invalid value '99999' for option port in group [poller]: expected a port number from 0 to 65535",
            bad.display()
        )
    );
    let broken = write(dir.path(), "d.toml", "[poller\n");
    let message = load_poller(&[&broken]).unwrap_err().to_string();
    assert!(
        message.starts_with(&broken.display().to_string()),
        "{message}"
    );
}

#[test]
fn environment_variables_win_over_files() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "svc.conf",
        "[poller]\nport = 1\n[DEFAULT]\ndebug = false\n",
    );
    // SAFETY: the names are this test's own (a prefix no other test uses), and nothing
    // in this process reads the environment through libc while tests run.
    unsafe {
        std::env::set_var("OSLOTEST1_POLLER__PORT", "3");
        std::env::set_var("oslotest1_default__debug", "true");
        // The bare `<PREFIX><OPTION>` is no name of oslo.config's: not read.
        std::env::set_var("OSLOTEST1_LOG_FILE", "/nowhere");
        std::env::set_var("OSLOTEST1_POLLER__INTERVAL", "soon");
    }
    let sources = ConfigSources::from_files([&file]).with_env("OSLOTEST1_");
    let message = Config::load_with(sources.clone(), &[GroupInfo::of::<PollerOpts>()])
        .unwrap_err()
        .to_string();
    assert!(
        message.starts_with("environment variable OSLOTEST1_POLLER__INTERVAL: invalid value 'soon' for option interval in group [poller]"),
        "{message}"
    );
    // SAFETY: as above.
    unsafe { std::env::remove_var("OSLOTEST1_POLLER__INTERVAL") };
    let conf = Config::load_with(sources, &[GroupInfo::of::<PollerOpts>()]).unwrap();
    assert_eq!(conf.group::<PollerOpts>().unwrap().port, Port(3));
    assert!(
        conf.group::<LogOptions>().unwrap().debug,
        "{:?}",
        conf.snapshot().raw_all("DEFAULT", "debug")
    );
    assert_eq!(conf.group::<LogOptions>().unwrap().log_file, None);
}

#[test]
fn unknown_options_of_known_groups_are_found() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "svc.conf",
        "[poller]\nprot = 1\n[DEFAULT]\ndebug = true\nbogus = 1\n[other]\nx = 1\n",
    );
    let conf = load_poller(&[&file]).unwrap();
    assert_eq!(
        conf.unknown_options(),
        [
            ("DEFAULT".to_owned(), "bogus".to_owned()),
            ("poller".to_owned(), "prot".to_owned())
        ]
    );
}

#[test]
fn mutate_applies_mutable_options_and_calls_hooks() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "svc.conf",
        "[poller]\ninterval = 1\nport = 1\ntoken = a\n",
    );
    let conf = load_poller(&[&file]).unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    conf.on_mutate(move |changes| sink.lock().unwrap().extend(changes.iter().cloned()));
    write(
        dir.path(),
        "svc.conf",
        "[poller]\ninterval = 2\nport = 2\ntoken = b\n",
    );
    conf.mutate().unwrap();
    let poller = conf.group::<PollerOpts>().unwrap();
    assert_eq!(poller.interval, std::time::Duration::from_secs(2));
    assert_eq!(poller.port, Port(1), "port is not mutable");
    assert_eq!(
        *seen.lock().unwrap(),
        [
            OptionChange {
                group: "poller".into(),
                option: "interval".into(),
                old: Some("1".into()),
                new: Some("2".into()),
            },
            OptionChange {
                group: "poller".into(),
                option: "token".into(),
                old: Some("****".into()),
                new: Some("****".into()),
            }
        ]
    );
}

/// Random INI-like texts, through the parser and the figment provider: nothing panics,
/// and what parses gives a snapshot whose values come back out.
#[test]
fn random_inputs_never_panic_the_parser_or_the_provider() {
    use figment::Provider as _;
    let pieces = [
        "[",
        "]",
        "DEFAULT",
        "poller",
        "=",
        ":",
        " ",
        "\t",
        "\n",
        "\n",
        "#",
        ";",
        "'",
        "\"",
        "é",
        "a",
        "port",
        "-",
        ",",
        "k:v",
        "30s",
        "\r\n",
        "\0",
        "[poller]\n",
        "[DEFAULT]\n",
        "port = 1\n",
        "  cont\n",
    ];
    let mut rng = fastrand::Rng::with_seed(0x5eed);
    for _ in 0..5000 {
        let mut text = String::new();
        for _ in 0..rng.usize(0..40) {
            text.push_str(pieces[rng.usize(0..pieces.len())]);
        }
        let parsed = parse_ini(&text);
        let provider = IniFile::from_text(&text, Some(Path::new("fuzz.conf")));
        assert_eq!(parsed.is_ok(), provider.is_ok(), "{text:?}");
        if let Ok(provider) = provider {
            let data = provider.data().expect("an INI provider always has data");
            let groups = data.values().next().map_or(0, |dict| dict.len());
            assert!(groups <= text.matches('[').count().max(1), "{text:?}");
            let snapshot = Snapshot::from_ini(&text, None).unwrap();
            let _ = PollerOpts::from_snapshot(&snapshot);
            let _ = LogOptions::from_snapshot(&snapshot);
        }
    }
}

#[test]
fn a_snapshot_survives_its_bytes_with_files_lines_and_repeated_keys() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("odd, name:1.conf");
    std::fs::write(
        &file,
        "[DEFAULT]\ndebug = true\n[g]\nk = a, b:c\nk = 12:3,\nm = ünï  cödé \n  continued\n",
    )
    .unwrap();
    let snapshot = providers::read(&ConfigSources::from_files([&file])).unwrap();
    let back = Snapshot::from_bytes(&snapshot.to_bytes()).unwrap();
    assert_eq!(back, snapshot);
    assert_eq!(back.raw_all("g", "k").len(), 2);
    assert_eq!(
        back.raw("g", "m").unwrap().file.as_deref(),
        Some(file.as_path())
    );
    assert_eq!(Snapshot::from_bytes(b""), Some(Snapshot::default()));
    let bytes = snapshot.to_bytes();
    for cut in [1, bytes.len() / 2, bytes.len() - 1] {
        assert_eq!(Snapshot::from_bytes(&bytes[..cut]), None, "cut at {cut}");
    }
    assert_eq!(Snapshot::from_bytes(b"99:abc,"), None);
}

/// A choice of the user's, read through serde.
#[derive(serde::Deserialize, Debug, PartialEq)]
#[serde(rename_all = "lowercase")]
enum Mode {
    Fast,
    Safe,
}

/// A dict option read into a struct, through serde.
#[derive(serde::Deserialize, Debug, PartialEq)]
struct Limits {
    cpu: u32,
    memory: String,
}

/// Options of types that only derive `Deserialize`.
#[crate::options(group = "svc", namespace = "test", crate = "crate")]
struct SerdeOpts {
    /// The mode.
    #[opt(serde, default = "safe")]
    mode: Mode,
    /// The limits.
    #[opt(serde)]
    limits: Option<Limits>,
}

#[test]
fn types_that_derive_deserialize_are_options_too() {
    let read = |ini: &str| {
        Snapshot::from_ini(ini, Some(Path::new("/etc/svc.conf")))
            .unwrap()
            .group::<SerdeOpts>()
            .map(|opts| {
                (
                    opts.mode.eq(&Mode::Fast),
                    opts.limits.as_ref().map(|l| (l.cpu, l.memory.clone())),
                )
            })
            .map_err(|err| err.to_string())
    };
    assert_eq!(
        read("[svc]\nmode = fast\nlimits = cpu:2, memory:1G\n"),
        Ok((true, Some((2, "1G".to_owned()))))
    );
    assert_eq!(read("[svc]\n"), Ok((false, None)));
    let bad = read("[svc]\n\nmode = slow\n").unwrap_err();
    assert!(
        bad.starts_with("/etc/svc.conf:3: invalid value 'slow' for option mode in group [svc]: "),
        "{bad}"
    );
    assert!(bad.ends_with(": expected one of 'fast', 'safe'"), "{bad}");
    let bad = read("[svc]\nlimits = cpu:2, mem:1G\n").unwrap_err();
    assert!(bad.ends_with(": missing key 'memory'"), "{bad}");
    let sample = crate::config::generate_sample(&[GroupInfo::of::<SerdeOpts>()], &[]).unwrap();
    assert!(
        sample.contains(
            "# Possible values:\n# fast - <No description provided>\n# safe - <No description provided>\n"
        ),
        "{sample}"
    );
}

/// A choice of the user's, with `#[derive(OptionValue)]`.
#[derive(crate::config::OptionValue, Clone, Copy, Debug, PartialEq)]
#[opt(crate = "crate")]
enum Engine {
    /// Skip the checks.
    Fast,
    /// Check everything,
    /// twice: before and after each step, so that nothing is missed.
    ///
    /// Slow.
    #[opt(name = "careful")]
    Safe,
    LowMemory,
}

/// Options of derived enum types.
#[crate::options(group = "svc", namespace = "test", crate = "crate")]
struct EngineOpts {
    /// The engine.
    #[opt(default = "fast")]
    engine: Engine,
    /// Engines to try.
    #[opt(default = ["careful", "low_memory"])]
    fallbacks: Vec<Engine>,
}

#[test]
fn derived_enums_read_their_variants_and_describe_them() {
    let read = |ini: &str| {
        Snapshot::from_ini(ini, Some(Path::new("/etc/svc.conf")))
            .unwrap()
            .group::<EngineOpts>()
            .map(|opts| (opts.engine, opts.fallbacks.clone()))
            .map_err(|err| err.to_string())
    };
    assert_eq!(
        read("[svc]\n"),
        Ok((Engine::Fast, vec![Engine::Safe, Engine::LowMemory]))
    );
    assert_eq!(
        read("[svc]\nengine = careful \nfallbacks = fast\n"),
        Ok((Engine::Safe, vec![Engine::Fast]))
    );
    assert_eq!(
        read("[svc]\n\nengine = safe\n"),
        Err(
            "/etc/svc.conf:3: invalid value 'safe' for option engine in group [svc]: expected one of 'fast', 'careful', 'low_memory'"
                .to_owned()
        )
    );
    assert_eq!(
        Engine::parse_option("Fast"),
        Err("expected one of 'fast', 'careful', 'low_memory'".to_owned())
    );
    assert_eq!(Engine::parse_option(" low_memory "), Ok(Engine::LowMemory));
    let sample = crate::config::generate_sample(&[GroupInfo::of::<EngineOpts>()], &[]).unwrap();
    let possible = "# Possible values:\n\
        # fast - Skip the checks.\n\
        # careful - Check everything, twice: before and after each step, so that\n\
        # nothing is missed. Slow.\n\
        # low_memory - <No description provided>\n";
    assert!(
        sample.contains(&format!(
            "# The engine. (string value)\n{possible}#engine = fast\n"
        )),
        "{sample}"
    );
    assert!(
        sample.contains(&format!("# Engines to try. (list value)\n{possible}")),
        "{sample}"
    );
}

#[test]
fn sources_survive_their_bytes() {
    let sources = ConfigSources {
        files: vec![PathBuf::from("/etc/a b.conf"), PathBuf::from("x:y,z.conf")],
        dirs: vec![PathBuf::from("/etc/svc.conf.d")],
        env_prefix: Some("OS_".to_owned()),
        cli: vec![("DEFAULT".into(), "debug".into(), "true".into())],
    };
    assert_eq!(
        ConfigSources::from_bytes(&sources.to_bytes()),
        Some(sources.clone())
    );
    let none = ConfigSources::default();
    assert_eq!(ConfigSources::from_bytes(&none.to_bytes()), Some(none));
    let bytes = sources.to_bytes();
    assert_eq!(ConfigSources::from_bytes(&bytes[..bytes.len() - 1]), None);
}
