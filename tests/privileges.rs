//! `[DEFAULT] user`, `group` and `umask`, driven through the `api` example as real
//! processes: the parent binds as root, its workers run as the user and cannot read
//! what only root can, and an unknown user stops the start. Run as root; skipped
//! otherwise.

mod support;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

use support::http::get;
use support::{Service, Signal, Stdout, exit_code};

const API: &str = env!("CARGO_BIN_EXE_api");

fn running_as_root() -> bool {
    if rustix::process::geteuid().is_root() {
        return true;
    }
    eprintln!("skipped: only root can run workers as another user");
    false
}

/// `id` of nobody: its uid and its primary gid.
fn nobody() -> (u32, u32) {
    let id = |flag: &str| -> u32 {
        let out = Command::new("id").args([flag, "nobody"]).output().unwrap();
        assert!(out.status.success(), "id {flag} nobody");
        String::from_utf8(out.stdout)
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    (id("-u"), id("-g"))
}

/// The value of a `Name:\t…` line of `/proc/<pid>/status`, its fields split.
fn status_line(pid: u32, name: &str) -> Vec<String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{name}:")))
        .unwrap_or_else(|| panic!("no {name} in {status}"));
    line.split_whitespace().map(str::to_owned).collect()
}

#[test]
fn workers_run_as_the_user_with_its_groups_and_umask_and_serve_on_the_port_root_bound() {
    if !running_as_root() {
        return;
    }
    let (uid, gid) = nobody();
    let files = tempfile::tempdir().unwrap();
    std::fs::set_permissions(files.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let secret = files.path().join("secret");
    std::fs::write(&secret, "root only\n").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let public = files.path().join("public");
    std::fs::write(&public, "anyone\n").unwrap();
    std::fs::set_permissions(&public, std::fs::Permissions::from_mode(0o644)).unwrap();
    let log_file = files.path().join("api.log");

    let config = format!(
        "[DEFAULT]\nuser = nobody\numask = 0o027\nlog_file = {}\nuse_stderr = true\n\
         [api]\nport = 0\nworkers = 2\ndebug_routes = true\n",
        log_file.display()
    );
    let (mut service, port) = support::start_listening(API, &config);
    let workers = service.children();
    assert_eq!(workers.len(), 2, "{}", service.log());

    // The parent stays root; each worker is nobody, real, effective, saved and file
    // system ids alike, with nobody's groups only, and the umask.
    assert_eq!(status_line(service.pid(), "Uid")[0], "0");
    for &pid in &workers {
        assert_eq!(
            status_line(pid, "Uid"),
            vec![uid.to_string(); 4],
            "worker {pid}"
        );
        assert_eq!(
            status_line(pid, "Gid"),
            vec![gid.to_string(); 4],
            "worker {pid}"
        );
        assert_eq!(
            status_line(pid, "Groups"),
            vec![gid.to_string()],
            "worker {pid}"
        );
        assert_eq!(status_line(pid, "Umask"), vec!["0027"], "worker {pid}");
    }
    assert_eq!(status_line(service.pid(), "Umask"), vec!["0027"]);

    // Every answer (from either worker) is refused the root-only file, and still reads
    // the file anyone can.
    let secret_path = format!("/debug/read{}", secret.display());
    let public_path = format!("/debug/read{}", public.display());
    for _ in 0..10 {
        let answer = get(port, &secret_path).unwrap();
        assert_eq!(answer.status, 403, "{}", answer.text());
        assert!(
            answer.text().contains("Permission denied"),
            "{}",
            answer.text()
        );
        let answer = get(port, &public_path).unwrap();
        assert_eq!(answer.status, 200, "{}", answer.text());
    }

    // The log file the parent made is the workers' to append to: their access lines
    // are in it.
    let meta = std::fs::metadata(&log_file).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (uid, gid));
    support::wait_until("the workers' access lines in the log file", || {
        std::fs::read_to_string(&log_file)
            .unwrap_or_default()
            .contains(&secret_path)
    });

    service.signal(Signal::TERM);
    assert_eq!(exit_code(service.wait_exit()), 0, "{}", service.log());
}

/// The config file and `--check-config`'s stderr for `config`, which it must refuse.
fn check_refused(config: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("api.conf");
    std::fs::write(&path, config).unwrap();
    let out = Command::new(API)
        .args(["--check-config", "--config-file"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    (dir, String::from_utf8(out.stderr).unwrap())
}

fn expect_refused(config: &str, message: &str) {
    let mut service = Service::start(API, config, Stdout::Null);
    assert_eq!(exit_code(service.wait_exit()), 1, "{}", service.log());
    let expected = format!("{}:{message}", service.config_path().display());
    assert!(service.log().contains(&expected), "{}", service.log());

    let (dir, stderr) = check_refused(config);
    let expected = format!("{}:{message}", dir.path().join("api.conf").display());
    assert!(stderr.contains(&expected), "{stderr}");
}

#[test]
fn an_unknown_user_or_group_or_a_bad_umask_stops_the_start_and_check_config_says_so() {
    if !running_as_root() {
        return;
    }
    let workers = "[api]\nport = 0\nworkers = 2\n";
    expect_refused(
        &format!("[DEFAULT]\nuser = no-such-user-of-oslo\n{workers}"),
        "2: invalid value 'no-such-user-of-oslo' for option user in group [DEFAULT]: no such user",
    );
    expect_refused(
        &format!("[DEFAULT]\nuser = nobody\ngroup = no-such-group-of-oslo\n{workers}"),
        "3: invalid value 'no-such-group-of-oslo' for option group in group [DEFAULT]: no such group",
    );
    expect_refused(
        &format!("[DEFAULT]\numask = 0o8\n{workers}"),
        "2: invalid value '0o8' for option umask in group [DEFAULT]: expected an octal mode",
    );
}

#[test]
fn without_root_another_user_is_refused_rather_than_ignored() {
    if !running_as_root() {
        return;
    }
    // Started as nobody, asked to run its workers as root.
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = dir.path().join("api.conf");
    std::fs::write(
        &path,
        "[DEFAULT]\nuser = root\n[api]\nport = 0\nworkers = 2\n",
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (uid, gid) = nobody();
    let mut command = Command::new(API);
    std::os::unix::process::CommandExt::uid(&mut command, uid);
    std::os::unix::process::CommandExt::gid(&mut command, gid);
    let out = command
        .args(["--config-file"])
        .arg(&path)
        .current_dir(Path::new("/"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8(out.stderr).unwrap();
    let expected = format!(
        "{}:2: invalid value 'root' for option user in group [DEFAULT]: the service runs as uid {uid}, not root",
        path.display()
    );
    assert!(stderr.contains(&expected), "{stderr}");
}
