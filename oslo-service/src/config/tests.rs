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
        env_prefix: None,
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
