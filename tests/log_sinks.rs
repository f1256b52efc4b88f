//! `use_journal` and `use_syslog` against real datagram sockets: the example runs in a
//! private mount namespace (`unshare -m`, as root) where the test's own sockets are
//! mounted at `/run/systemd/journal/socket` and `/dev/log`, the fixed places a journal
//! and a syslog daemon listen; the test reads what the service sends there.

mod support;

use std::collections::BTreeSet;
use std::os::unix::net::UnixDatagram;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::{HANG, Service, Signal, Stdout, exit_code};

const HELLO: &str = env!("CARGO_BIN_EXE_hello");
const WORKERS: &str = env!("CARGO_BIN_EXE_workers");

/// Hides `/dev` and `/run` behind empty file systems (keeping `/dev/null`) and mounts the
/// sockets of directory `$1` in their place, then runs the rest of the arguments.
const NAMESPACE: &str = r#"set -e
dir=$1; shift
touch "$dir/null"
mount --bind /dev/null "$dir/null"
mount -t tmpfs tmpfs /dev
touch /dev/null /dev/log
mount --bind "$dir/null" /dev/null
mount --bind "$dir/syslog.sock" /dev/log
mount -t tmpfs tmpfs /run
mkdir -p /run/systemd/journal
touch /run/systemd/journal/socket
mount --bind "$dir/journal.sock" /run/systemd/journal/socket
exec "$@"
"#;

/// A journal and a syslog daemon of the test's: two bound datagram sockets, each drained
/// from the start by a thread (the queue of a datagram socket is short: a reader that
/// waits loses lines, as the service drops what a full socket refuses).
struct Daemons {
    dir: tempfile::TempDir,
    journal: Received,
    syslog: Received,
}

type Received = Arc<Mutex<Vec<Vec<u8>>>>;

impl Daemons {
    fn new() -> Daemons {
        let dir = tempfile::tempdir().unwrap();
        let drained = |name: &str| {
            let socket = UnixDatagram::bind(dir.path().join(name)).unwrap();
            let received = Received::default();
            let sink = Arc::clone(&received);
            std::thread::spawn(move || {
                let mut buf = vec![0; 65536];
                while let Ok(len) = socket.recv(&mut buf) {
                    sink.lock().unwrap().push(buf[..len].to_vec());
                }
            });
            received
        };
        Daemons {
            journal: drained("journal.sock"),
            syslog: drained("syslog.sock"),
            dir,
        }
    }

    /// `binary` started inside the namespace, where it finds these sockets.
    fn start(&self, binary: &str, config: &str) -> Service {
        let probe = Command::new("unshare").args(["-m", "true"]).status();
        assert!(
            probe.is_ok_and(|status| status.success()),
            "these tests need `unshare -m` (util-linux, as root) to mount their sockets where \
             the journal and syslog listen"
        );
        let mut command = Command::new("unshare");
        command
            .args(["-m", "sh", "-c", NAMESPACE, "sh"])
            .arg(self.dir.path())
            .arg(binary);
        Service::start_command(command, config, Stdout::Null, None)
    }

    /// What `received` holds once `done` says it is enough (or a hang).
    fn read_until(received: &Received, mut done: impl FnMut(&[Vec<u8>]) -> bool) -> Vec<Vec<u8>> {
        let deadline = Instant::now() + HANG;
        loop {
            let got = received.lock().unwrap().clone();
            if done(&got) {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "timed out; got {} datagrams",
                got.len()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// The value of journal field `name` in a native-protocol datagram (`NAME=value` lines;
/// a value with a newline is `NAME\n<le64 length><bytes>\n`).
fn journal_field(datagram: &[u8], name: &str) -> Option<String> {
    let mut rest = datagram;
    while !rest.is_empty() {
        let end = rest.iter().position(|&b| b == b'\n')?;
        let line = &rest[..end];
        if let Some(eq) = line.iter().position(|&b| b == b'=') {
            if &line[..eq] == name.as_bytes() {
                return Some(String::from_utf8_lossy(&line[eq + 1..]).into_owned());
            }
            rest = &rest[end + 1..];
        } else {
            let len = u64::from_le_bytes(rest.get(end + 1..end + 9)?.try_into().ok()?) as usize;
            let value = rest.get(end + 9..end + 9 + len)?;
            if line == name.as_bytes() {
                return Some(String::from_utf8_lossy(value).into_owned());
            }
            rest = rest.get(end + 10 + len..)?;
        }
    }
    None
}

fn text(datagram: &[u8]) -> String {
    String::from_utf8_lossy(datagram).into_owned()
}

#[test]
fn lines_go_to_the_journal_with_fields_and_to_syslog_with_facility_and_pid() {
    let daemons = Daemons::new();
    let config = "[DEFAULT]\nuse_journal = true\nuse_syslog = true\n\
                  syslog_log_facility = LOG_LOCAL3\n[hello]\ngreeting = from the namespace\n";
    let mut service = daemons.start(HELLO, config);
    service.expect_notify("READY=1");
    let pid = service.pid();

    let started =
        |datagram: &Vec<u8>| journal_field(datagram, "MESSAGE").as_deref() == Some("hello started");
    let journal = Daemons::read_until(&daemons.journal, |got| got.iter().any(started));
    let line = journal.iter().find(|d| started(d)).unwrap();
    // INFO is the journal's "notice" (5) for tracing-journald, as its docs say.
    assert_eq!(
        journal_field(line, "PRIORITY").as_deref(),
        Some("5"),
        "{}",
        text(line)
    );
    assert_eq!(
        journal_field(line, "SYSLOG_IDENTIFIER").as_deref(),
        Some("hello")
    );
    assert_eq!(
        journal_field(line, "F_GREETING").as_deref(),
        Some("from the namespace")
    );
    assert!(journal_field(line, "CODE_FILE").is_some_and(|f| f.ends_with("hello.rs")));
    assert!(journal_field(line, "TARGET").is_some());

    // LOG_LOCAL3 is facility 19; INFO is syslog's info (6): 19 * 8 + 6.
    let head = format!("<158>hello[{pid}]: ");
    let syslog = Daemons::read_until(&daemons.syslog, |got| {
        got.iter().any(|d| text(d).contains("hello started"))
    });
    let line = text(
        syslog
            .iter()
            .find(|d| text(d).contains("hello started"))
            .unwrap(),
    );
    assert!(line.starts_with(&head), "{line}");
    assert!(line.contains("from the namespace"), "{line}");
    assert!(!line.ends_with('\n'), "{line:?}");

    // The log file or standard error still gets every line.
    service.wait_log("hello started");
    service.signal(Signal::TERM);
    assert_eq!(exit_code(service.wait_exit()), 0, "{}", service.log());
}

#[test]
fn each_worker_sends_syslog_lines_under_its_own_pid() {
    let daemons = Daemons::new();
    let config = "[DEFAULT]\nuse_syslog = true\n[workers]\ncount = 2\nport = 0\n";
    let mut service = daemons.start(WORKERS, config);
    service.expect_notify("READY=1");
    let parent = service.pid();
    let lines = Daemons::read_until(&daemons.syslog, |got| {
        got.iter()
            .filter(|d| text(d).contains("worker accepting"))
            .count()
            >= 2
    });
    let workers: BTreeSet<u32> = lines
        .iter()
        .map(|d| text(d))
        .filter(|line| line.contains("worker accepting"))
        .map(|line| {
            assert!(line.starts_with("<14>workers["), "{line}");
            let pid = &line["<14>workers[".len()..line.find("]:").unwrap()];
            pid.parse().unwrap()
        })
        .collect();
    let children: BTreeSet<u32> = service.children().into_iter().collect();
    assert_eq!(workers.len(), 2, "{lines:?}");
    assert!(
        workers.is_subset(&children),
        "{workers:?} not among {children:?}"
    );
    assert!(!workers.contains(&parent));
    service.signal(Signal::TERM);
    assert_eq!(exit_code(service.wait_exit()), 0, "{}", service.log());
}

#[test]
fn unreachable_daemons_and_unknown_facility_stop_the_start() {
    // Outside the namespace nothing listens at /dev/log on this machine's kind; inside,
    // the sockets are there but this one names a facility that does not exist.
    let daemons = Daemons::new();
    let mut service = daemons.start(
        HELLO,
        "[DEFAULT]\nuse_syslog = true\nsyslog_log_facility = LOG_NOPE\n",
    );
    assert_eq!(exit_code(service.wait_exit()), 1, "{}", service.log());
    let expected = format!(
        "{}:3: invalid value 'LOG_NOPE' for option syslog_log_facility in group [DEFAULT]: \
         syslog facility must be one of: LOG_KERN, LOG_USER",
        service.config_path().display()
    );
    assert!(service.log().contains(&expected), "{}", service.log());

    // A journal socket that nobody reads from any more: the daemon is gone.
    let gone = Daemons::new();
    std::fs::remove_file(gone.dir.path().join("journal.sock")).unwrap();
    std::fs::write(gone.dir.path().join("journal.sock"), "").unwrap();
    let mut service = gone.start(HELLO, "[DEFAULT]\nuse_journal = true\n");
    assert_eq!(exit_code(service.wait_exit()), 1, "{}", service.log());
    assert!(
        service
            .log()
            .contains("use_journal: cannot reach the journal at /run/systemd/journal/socket"),
        "{}",
        service.log()
    );
}
