//! The debug console, driven through the examples as real processes: every command
//! checked against what the process did, on a port, a port range under worker
//! processes, and a UNIX socket; hostile clients harm nothing.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use support::{HANG, Service, Signal, Stdout, exit_code, wait_until};

const HELLO: &str = env!("CARGO_BIN_EXE_hello");
const WORKERS: &str = env!("CARGO_BIN_EXE_workers");

/// A console session over any stream.
struct Console<S: Read + Write> {
    reader: BufReader<S>,
}

impl<S: Read + Write> Console<S> {
    fn new(stream: S) -> Self {
        let mut console = Console {
            reader: BufReader::new(stream),
        };
        let banner = console.answer();
        assert!(banner.contains("debug console"), "{banner}");
        console
    }

    /// Reads one answer: lines up to the blank line that ends it.
    fn answer(&mut self) -> String {
        let mut answer = String::new();
        loop {
            let mut line = String::new();
            if self.reader.read_line(&mut line).unwrap() == 0 || line == "\n" {
                return answer;
            }
            answer.push_str(&line);
        }
    }

    fn ask(&mut self, command: &str) -> String {
        self.reader
            .get_mut()
            .write_all(format!("{command}\n").as_bytes())
            .unwrap();
        self.answer()
    }
}

fn tcp(port: u16) -> Console<TcpStream> {
    let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(HANG)).unwrap();
    Console::new(stream)
}

/// Every `backdoor listening on <where> for process <pid>` line of the log.
fn consoles(log: &str) -> Vec<(String, u32)> {
    log.lines()
        .filter_map(|line| {
            let rest = line.split_once("backdoor listening on ")?.1;
            let (place, pid) = rest.split_once(" for process ")?;
            Some((place.to_owned(), pid.trim().parse().ok()?))
        })
        .collect()
}

fn hello_config(default: &str) -> String {
    format!("[DEFAULT]\n{default}\n[hello]\ngreeting = hi\ntoken = s3cret\n")
}

fn runs(tasks: &str) -> u64 {
    tasks
        .split_whitespace()
        .find_map(|field| field.strip_prefix("runs="))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no runs in {tasks}"))
}

#[test]
fn every_command_answers_with_what_the_process_did() {
    let service = Service::start(HELLO, &hello_config("backdoor_port = 0"), Stdout::Null);
    service.expect_notify("READY=1");
    let found = consoles(&service.log());
    assert_eq!(found.len(), 1, "{}", service.log());
    let (port, pid) = (found[0].0.parse::<u16>().unwrap(), found[0].1);
    assert_eq!(pid, service.pid());
    let mut console = tcp(port);

    assert!(console.ask("help").contains("run TASK"));
    let services = console.ask("services");
    assert!(
        services.starts_with("hello state=running started_at=20"),
        "{services}"
    );

    // The greeting task ran at start (run_immediately); `run` runs it once more, now.
    wait_until("the first run in the stats", || {
        console.ask("tasks").contains("runs=")
    });
    let before = runs(&console.ask("tasks"));
    assert!(before >= 1);
    let greetings = service.log_count("periodic greeting");
    assert_eq!(console.ask("run greet"), "ran hello.greet\n");
    assert_eq!(runs(&console.ask("tasks")), before + 1);
    service.wait_for_log("periodic greeting", greetings + 1);
    assert_eq!(
        console.ask("run hello.nosuch"),
        "error: no periodic task named 'hello.nosuch'\n"
    );

    let json: serde_json::Value = serde_json::from_str(&console.ask("tasks --json")).unwrap();
    assert_eq!(json[0]["service"], "hello");
    assert_eq!(json[0]["task"], "greet");
    assert_eq!(json[0]["runs"], before + 1);

    let conf = console.ask("conf");
    let file = service.config_path().display().to_string();
    assert!(
        conf.contains(&format!("[hello] greeting = hi  ({file}:4)")),
        "{conf}"
    );
    assert!(
        conf.contains(&format!("[hello] token = ****  ({file}:5)")),
        "{conf}"
    );
    assert!(!conf.contains("s3cret"), "{conf}");

    let runtime = console.ask("runtime");
    assert!(runtime.contains(&format!("pid={pid} ")), "{runtime}");
    let json: serde_json::Value = serde_json::from_str(&console.ask("runtime --json")).unwrap();
    assert!(json["rss_bytes"].as_u64().unwrap() > 0);
    assert!(json["open_fds"].as_u64().unwrap() > 2);
    assert!(json["alive_tasks"].as_u64().is_some());

    // loglevel changes the filter until the next reload re-applies the configuration.
    let configured = console.ask("loglevel");
    assert!(
        configured.starts_with("filter=") && configured.ends_with(",info\n"),
        "{configured}"
    );
    let debug_lines = |service: &Service| service.log_count("debug console command");
    assert_eq!(debug_lines(&service), 0);
    assert_eq!(console.ask("loglevel debug"), "filter=debug\n");
    // Who changed it: the client's address and user.
    let uid = rustix::process::getuid().as_raw();
    service.wait_log_line(&[
        "log filter changed from the debug console",
        "filter=debug",
        "peer=127.0.0.1:",
        &format!("uid={uid}"),
    ]);
    console.ask("services");
    service.wait_log_line(&["DEBUG", "debug console command", "command=services"]);
    service.signal(Signal::HUP);
    service.expect_notify("RELOADING=1");
    service.expect_notify("READY=1");
    assert_eq!(console.ask("loglevel"), configured);
    let seen = debug_lines(&service);
    console.ask("services");
    assert_eq!(console.ask("loglevel"), configured);
    assert_eq!(debug_lines(&service), seen, "DEBUG lines after the reload");

    assert_eq!(
        console.ask("workers"),
        "error: this process has no workers (ask their parent)\n"
    );
    assert_eq!(
        console.ask("frob"),
        "error: unknown command 'frob'; try help\n"
    );
    assert_eq!(
        console.ask("frob --json"),
        "{\"error\":\"unknown command 'frob'; try help\"}\n"
    );
    assert_eq!(console.ask("quit"), "bye\n");
    let mut rest = String::new();
    assert_eq!(console.reader.read_to_string(&mut rest).unwrap(), 0);
}

/// The greeting's line of `tasks`.
fn greet_line(console: &mut Console<TcpStream>) -> String {
    let tasks = console.ask("tasks");
    tasks
        .lines()
        .find(|line| line.starts_with("hello.greet "))
        .unwrap_or_else(|| panic!("no hello.greet in {tasks}"))
        .to_owned()
}

#[test]
fn a_sighup_respaces_the_greeting_from_its_option_and_tasks_shows_the_spacing_in_force() {
    for method in ["mutate", "reload"] {
        let config = |interval: &str| {
            format!(
                "[DEFAULT]\nbackdoor_port = 0\n[hello]\nrestart_method = {method}\ngreeting_interval = {interval}\n"
            )
        };
        let service = Service::start(HELLO, &config("1h"), Stdout::Null);
        service.expect_notify("READY=1");
        let port = consoles(&service.log())[0].0.parse::<u16>().unwrap();
        let mut console = tcp(port);
        // The console lists the task once the service's driver has started it.
        wait_until("the greeting in the console's tasks", || {
            console.ask("tasks").contains("hello.greet ")
        });
        let line = greet_line(&mut console);
        assert!(
            line.starts_with("hello.greet spacing=1h spacing_from=hello.greeting_interval runs="),
            "{line}"
        );
        // At start only (run_immediately): the next one is an hour away.
        service.wait_for_log("periodic greeting", 1);

        service.rewrite_config(&config("1s"));
        service.signal(Signal::HUP);
        wait_until("the new spacing in the console", || {
            console.ask("tasks").contains("hello.greet spacing=1s ")
        });
        // Greetings every second now, not in an hour.
        service.wait_for_log("periodic greeting", 4);
        assert_eq!(service.log_count("failed"), 0, "{}", service.log());
    }
}

#[test]
fn a_bad_backdoor_port_stops_the_start_naming_value_and_forms() {
    Service::expect_start_refused(
        HELLO,
        &hello_config("backdoor_port = 9:8"),
        "2: invalid value '9:8' for option backdoor_port in group [DEFAULT]: expected 0 (any free port), <port>, or <start>:<end> (the lowest free port of the range)",
    );
}

#[test]
fn a_unix_socket_with_the_pid_replaces_a_stale_one_and_is_ours_alone() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let pattern = dir.path().join("backdoor-{pid}.sock");
    let config = hello_config(&format!(
        "backdoor_socket = {}\nbackdoor_port = 0",
        pattern.display()
    ));
    let service = Service::start(HELLO, &config, Stdout::Null);
    service.expect_notify("READY=1");
    let path = dir.path().join(format!("backdoor-{}.sock", service.pid()));
    assert_eq!(
        consoles(&service.log()),
        [(path.display().to_string(), service.pid())]
    );
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let stream = UnixStream::connect(&path).unwrap();
    stream.set_read_timeout(Some(HANG)).unwrap();
    let mut console = Console::new(stream);
    assert!(console.ask("services").starts_with("hello state=running"));

    // A socket file left by a process that is gone is replaced.
    drop(service);
    let stale = dir.path().join("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
    let config = hello_config(&format!("backdoor_socket = {}", stale.display()));
    let service = Service::start(HELLO, &config, Stdout::Null);
    service.expect_notify("READY=1");
    let stream = UnixStream::connect(&stale).unwrap();
    stream.set_read_timeout(Some(HANG)).unwrap();
    assert!(
        Console::new(stream)
            .ask("runtime")
            .contains(&format!("pid={}", service.pid()))
    );
}

/// A port range with room for a parent and its workers: from a free port on.
fn free_range(len: u16) -> (u16, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let start = port.min(65535 - len);
    (start, start + len)
}

#[test]
fn under_workers_each_process_has_its_own_console_and_the_parent_lists_them() {
    let (start, end) = free_range(40);
    let config =
        format!("[DEFAULT]\nbackdoor_port = {start}:{end}\n[workers]\ncount = 2\nport = 0\n");
    let service = Service::start(WORKERS, &config, Stdout::Null);
    service.expect_notify("READY=1");
    wait_until("three consoles", || consoles(&service.log()).len() == 3);
    let found = consoles(&service.log());
    let ports: std::collections::BTreeSet<u16> =
        found.iter().map(|(p, _)| p.parse().unwrap()).collect();
    assert_eq!(ports.len(), 3, "{found:?}");
    assert!(ports.iter().all(|p| (start..=end).contains(p)));
    let parent_port: u16 = found
        .iter()
        .find(|(_, pid)| *pid == service.pid())
        .map(|(port, _)| port.parse().unwrap())
        .unwrap();

    let mut parent = tcp(parent_port);
    let workers = parent.ask("workers");
    let children = service.children();
    for pid in &children {
        assert!(workers.contains(&format!("pid={pid} ")), "{workers}");
    }
    assert!(workers.contains("workers worker=0 "), "{workers}");
    assert!(workers.contains("ready=true"), "{workers}");
    // Each worker's runtime answers the parent's heartbeat (every 5 s by default; the
    // first ping goes out as it starts).
    wait_until("every worker's first heartbeat answer", || {
        let workers = parent.ask("workers");
        workers
            .lines()
            .filter(|l| l.contains(" pid="))
            .all(|l| l.contains("last_answer=20"))
    });

    // A worker's own console answers for itself.
    let (worker_port, worker_pid) = found.iter().find(|(_, pid)| *pid != service.pid()).unwrap();
    let mut worker = tcp(worker_port.parse().unwrap());
    assert!(worker.ask("services").starts_with("workers state=running"));
    assert!(
        worker
            .ask("runtime")
            .contains(&format!("pid={worker_pid} "))
    );

    // A killed worker's replacement shows up in the parent's list, counted as a restart.
    let killed = children[0];
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(killed as i32).unwrap(),
        rustix::process::Signal::KILL,
    )
    .unwrap();
    wait_until("the replacement in the list", || {
        let workers = parent.ask("workers");
        !workers.contains(&format!("pid={killed} ")) && workers.contains("restarts=1")
    });
    wait_until("both workers listed by their pids", || {
        let workers = parent.ask("workers");
        let children = service.children();
        children.len() == 2
            && children
                .iter()
                .all(|pid| workers.contains(&format!("pid={pid} ")))
    });
    let json: serde_json::Value = serde_json::from_str(&parent.ask("workers --json")).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 2);
}

#[test]
fn hostile_clients_harm_nothing() {
    let service = Service::start(HELLO, &hello_config("backdoor_port = 0"), Stdout::Null);
    service.expect_notify("READY=1");
    let port: u16 = consoles(&service.log())[0].0.parse().unwrap();
    let rss = |console: &mut Console<TcpStream>| {
        let json: serde_json::Value = serde_json::from_str(&console.ask("runtime --json")).unwrap();
        json["rss_bytes"].as_u64().unwrap()
    };
    let mut watcher = tcp(port);
    let rss_before = rss(&mut watcher);

    // A line of 10 MB: refused, and never held whole.
    let mut long = tcp(port);
    let mut line = vec![b'a'; 10 << 20];
    line.push(b'\n');
    long.reader.get_mut().write_all(&line).unwrap();
    assert_eq!(long.answer(), "error: line too long (at most 4096 bytes)\n");
    assert!(long.ask("services").starts_with("hello"));

    // Binary junk.
    let mut junk = tcp(port);
    junk.reader
        .get_mut()
        .write_all(b"\x00\xff\xfe\x01\x02\n")
        .unwrap();
    assert_eq!(junk.answer(), "error: not a line of text\n");

    // A client that disconnects mid-line, and one that never reads its answers.
    {
        let mut gone = TcpStream::connect(("127.0.0.1", port)).unwrap();
        gone.write_all(b"serv").unwrap();
    }
    let mut deaf = TcpStream::connect(("127.0.0.1", port)).unwrap();
    deaf.set_write_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    for _ in 0..2000 {
        if deaf.write_all(b"help\n").is_err() {
            break;
        }
    }

    // 100 clients at once: some served, the others told so; none breaks anything.
    // All held open until each has been read from, so that no session ends meanwhile.
    let mut crowd: Vec<TcpStream> = (0..100)
        .map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap())
        .collect();
    let mut told = 0;
    for client in &mut crowd {
        client
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut first = [0; 64];
        if let Ok(n) = client.read(&mut first) {
            if String::from_utf8_lossy(&first[..n]).contains("too many console clients") {
                told += 1;
            }
        }
    }
    assert!(told > 0, "no client was turned away\n{}", service.log());

    // The console and the service live on, and memory stayed bounded.
    assert!(watcher.ask("services").starts_with("hello state=running"));
    let growth = rss(&mut watcher).saturating_sub(rss_before);
    assert!(growth < 32 << 20, "RSS grew by {growth} bytes");
    assert_eq!(exit_code_after_term(service), 0);
}

fn exit_code_after_term(mut service: Service) -> i32 {
    service.signal(Signal::TERM);
    exit_code(service.wait_exit())
}

/// The console's socket is opened to everyone (as a socket in a shared directory might
/// be): a client of another user still gets nothing, and the refusal is logged. The
/// client is Python run as `nobody` (uid 65534), which needs root to start.
#[test]
fn a_client_of_another_user_is_refused_even_when_the_mode_lets_it_in() {
    use std::os::unix::fs::PermissionsExt;
    assert!(
        rustix::process::getuid().is_root(),
        "this test starts a client as another user: run it as root (CI does)"
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o711)).unwrap();
    let path = dir.path().join("console.sock");
    let service = Service::start(
        HELLO,
        &hello_config(&format!("backdoor_socket = {}", path.display())),
        Stdout::Null,
    );
    service.expect_notify("READY=1");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
    // Connecting works (the mode lets it); what counts is that nothing comes back and
    // the server closes the connection, whether the write gets in before or not.
    let said = connect_as_nobody(
        "socket.AF_UNIX",
        &format!("{:?}", path.display().to_string()),
    );
    assert_eq!(said.trim(), "connected, got 0 bytes");
    service.wait_log_line(&[
        "backdoor refused a client of another user",
        "uid=Some(65534)",
    ]);
    // The owner is still served.
    let stream = UnixStream::connect(&path).unwrap();
    stream.set_read_timeout(Some(HANG)).unwrap();
    let mut console = Console::new(stream);
    assert!(console.ask("services").starts_with("hello state=running"));
}

/// Hello with its console on a port, ready, for a test that connects as another user
/// (which needs root); the port.
fn hello_on_a_port_for_another_user() -> (Service, u16) {
    assert!(
        rustix::process::getuid().is_root(),
        "this test starts a client as another user: run it as root (CI does)"
    );
    let service = Service::start(HELLO, &hello_config("backdoor_port = 0"), Stdout::Null);
    service.expect_notify("READY=1");
    let port: u16 = consoles(&service.log())[0].0.parse().unwrap();
    (service, port)
}

/// The TCP console listens on 127.0.0.1, which every local user reaches: a client of
/// another user gets nothing (the kernel's socket table names its owner), the refusal
/// is logged, and the owner is served.
#[test]
fn a_tcp_client_of_another_user_is_refused() {
    let (service, port) = hello_on_a_port_for_another_user();
    let said = connect_as_nobody("socket.AF_INET", &format!("('127.0.0.1', {port})"));
    assert_eq!(said.trim(), "connected, got 0 bytes");
    service.wait_log_line(&["backdoor refused a client of another user", "uid=65534"]);
    assert!(tcp(port).ask("services").starts_with("hello state=running"));
}

/// A client that sends its command and closes at once leaves a socket no process owns,
/// which the kernel's table shows as root's: such a client is refused, never taken for
/// root. 200 tries as `nobody`, each `loglevel trace` then close: none changes the
/// filter, and each is refused in the log.
#[test]
fn a_tcp_client_that_closes_first_is_not_taken_for_root() {
    let (service, port) = hello_on_a_port_for_another_user();
    let before = tcp(port).ask("loglevel");
    const TRIES: usize = 200;
    let client = format!(
        "import socket\n\
         for _ in range({TRIES}):\n\
         \x20   s = socket.create_connection(('127.0.0.1', {port}), timeout=30)\n\
         \x20   s.sendall(b'loglevel trace\\n')\n\
         \x20   s.close()\n"
    );
    run_as_nobody(&client);
    wait_until("every client refused", || {
        service.log().matches("backdoor refused a client").count() >= TRIES
    });
    let log = service.log();
    assert!(
        !log.contains("log filter changed from the debug console"),
        "{log}"
    );
    assert_eq!(tcp(port).ask("loglevel"), before);
}

/// Runs a Python client as `nobody` (uid 65534) that connects to `address` of
/// `family`, sends `conf` and reads to the end; returns what it printed.
fn connect_as_nobody(family: &str, address: &str) -> String {
    let client = format!(
        "import socket\n\
         s = socket.socket({family})\n\
         s.settimeout(30)\n\
         s.connect({address})\n\
                  data = b''\n\
                  try:\n\
                  \x20   s.sendall(b'conf\\n')\n\
                  \x20   while True:\n\
                  \x20       chunk = s.recv(4096)\n\
                  \x20       if not chunk: break\n\
                  \x20       data += chunk\n\
                  except (BrokenPipeError, ConnectionResetError):\n\
                  \x20   pass\n\
                  print('connected, got %d bytes' % len(data))\n"
    );
    run_as_nobody(&client)
}

/// Runs the Python program `source` as `nobody` (uid 65534); what it printed.
fn run_as_nobody(source: &str) -> String {
    use std::os::unix::process::CommandExt;
    let output = std::process::Command::new("python3")
        .args(["-c", source])
        .uid(65534)
        .gid(65534)
        .output()
        .expect("python3 as nobody");
    assert!(output.status.success(), "{output:?}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A nova.conf as deployments write it: credentials in options no group of the program
/// declares. Neither the console (text and JSON), nor `log_options`, nor an error shows
/// them.
const NOVA_SECRETS: &str = "\
[DEFAULT]
debug = true
backdoor_port = 0
transport_url = rabbit://nova:S3cretPass@rabbit:5672/
[database]
connection = mysql+pymysql://nova:DbPa55@db/nova
[keystone_authtoken]
password = K3yst0nePw
auth_url = http://keystone:5000/v3
[app]
url = https://example.test/?key=${keystone_authtoken.password}
[hello]
greeting = hi
";

const SECRET_TEXTS: &[&str] = &["S3cretPass", "DbPa55", "K3yst0nePw"];

#[test]
fn credentials_of_undeclared_options_never_show_in_the_console_or_the_log() {
    shown_masked_in_the_console_and_never_in_the_log(
        NOVA_SECRETS,
        &[
            "[DEFAULT] transport_url = rabbit://nova:****@rabbit:5672/",
            "[database] connection = mysql+pymysql://nova:****@db/nova",
            "[keystone_authtoken] password = ****",
            "[keystone_authtoken] auth_url = http://keystone:5000/v3",
            // Substituted from a secret: masked whole.
            "[app] url = ****",
        ],
        "mysql+pymysql://nova:****@db/nova",
        SECRET_TEXTS,
    );
}

/// Starts hello on `config` (with `debug = true`, so `log_options` runs); its console's
/// `conf` shows each of `shown`, `conf --json` shows `in_json`, and neither they nor the
/// log, read after a stop, hold any of `secrets`.
fn shown_masked_in_the_console_and_never_in_the_log(
    config: &str,
    shown: &[&str],
    in_json: &str,
    secrets: &[&str],
) {
    let mut service = Service::start(HELLO, config, Stdout::Null);
    service.expect_notify("READY=1");
    let (port_text, _) = consoles(&service.log())[0].clone();
    let mut console = tcp(port_text.parse().unwrap());
    let conf = console.ask("conf");
    for shown in shown {
        assert!(conf.contains(shown), "no '{shown}' in:\n{conf}");
    }
    let json = console.ask("conf --json");
    assert!(json.contains(in_json), "{json}");
    service.signal(Signal::TERM);
    assert_eq!(exit_code(service.wait_exit()), 0, "{}", service.log());
    let log = service.log();
    // log_options ran and showed the declared options it knows.
    assert!(log.contains("option value"), "{log}");
    for secret in secrets {
        assert!(!conf.contains(secret), "{secret} in:\n{conf}");
        assert!(!json.contains(secret), "{secret} in:\n{json}");
        assert!(!log.contains(secret), "{secret} in the log:\n{log}");
    }
}

/// Passwords holding what ends a URL's authority (`/`, `?`, `#`): the user-info still
/// runs to the last `@`, in the console, its JSON and the log; an error about such a
/// URL, which no parser reads, shows none of it.
const BROKEN_URLS: &str = "\
[DEFAULT]
debug = true
backdoor_port = 0
transport_url = rabbit://nova:pa?ss77@host:5672/
[database]
connection = mysql+pymysql://nova:se/cret9@db/nova
[cache]
backend_argument = url:redis://u:ha#sh55@cache:6379
[hello]
greeting = hi
";

const BROKEN_URL_SECRETS: &[&str] = &["pa?ss77", "ss77", "se/cret9", "cret9", "ha#sh55", "sh55"];

#[test]
fn passwords_holding_slash_question_mark_or_hash_never_show() {
    shown_masked_in_the_console_and_never_in_the_log(
        BROKEN_URLS,
        &[
            "[DEFAULT] transport_url = rabbit://nova:****@host:5672/",
            "[database] connection = mysql+pymysql://nova:****@db/nova",
            "[cache] backend_argument = url:redis://u:****@cache:6379",
        ],
        "url:redis://u:****@cache:6379",
        BROKEN_URL_SECRETS,
    );

    // An error about such a URL: the start stops, and says nothing of it.
    let config = "[coordination]\nbackend_url = etcd3+https://oslo:pa?ss77@etcd:2379\n";
    let mut service = Service::start(HELLO, config, Stdout::Null);
    assert_eq!(exit_code(service.wait_exit()), 1, "{}", service.log());
    let log = service.log();
    assert!(
        log.contains("invalid value '****' for option backend_url in group [coordination]"),
        "{log}"
    );
    for secret in BROKEN_URL_SECRETS {
        assert!(!log.contains(secret), "{secret} in the log:\n{log}");
    }
}

#[test]
fn a_secret_that_fails_substitution_is_not_echoed_at_start_or_by_a_refused_reload() {
    // At start.
    let config = "[DEFAULT]\n[keystone_authtoken]\npassword = ab$cdPw\n[hello]\ngreeting = hi\n";
    let mut service = Service::start(HELLO, config, Stdout::Null);
    assert_eq!(exit_code(service.wait_exit()), 1, "{}", service.log());
    let log = service.log();
    assert!(
        log.contains("invalid value '****' for option password in group [keystone_authtoken]"),
        "{log}"
    );
    assert!(!log.contains("ab$cd"), "{log}");

    // On a reload: refused, the service runs on, and the log says why without it.
    let mut service = Service::start(HELLO, "[hello]\ngreeting = hi\n", Stdout::Null);
    service.expect_notify("READY=1");
    service.rewrite_config(config);
    service.signal(Signal::HUP);
    service.wait_log("invalid value '****' for option password");
    assert!(!service.log().contains("ab$cd"), "{}", service.log());
    assert!(service.is_running());
}

/// `backdoor_socket` naming a file that is no socket (a typo, a config file, a symlink
/// planted by another user): the start stops naming the path, and the file, or the
/// symlink and its target, stay as they were.
#[test]
fn a_backdoor_socket_path_that_is_no_socket_is_never_removed() {
    let dir = tempfile::tempdir().unwrap();
    let regular = dir.path().join("nova.conf");
    std::fs::write(&regular, "precious").unwrap();
    let target = dir.path().join("target");
    std::fs::write(&target, "also precious").unwrap();
    let link = dir.path().join("console.sock");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    for path in [&regular, &link] {
        let config = hello_config(&format!("backdoor_socket = {}", path.display()));
        let mut service = Service::start(HELLO, &config, Stdout::Null);
        assert_eq!(exit_code(service.wait_exit()), 1, "{}", service.log());
        let log = service.log();
        assert!(
            log.contains(&format!("{} exists and is not a socket", path.display())),
            "{log}"
        );
    }
    assert_eq!(std::fs::read_to_string(&regular).unwrap(), "precious");
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "also precious");
}

/// A worker killed by SIGKILL cannot remove its console's socket: its parent does, and
/// the live workers' sockets stay.
#[test]
fn the_parent_removes_the_socket_of_a_killed_worker() {
    let dir = tempfile::tempdir().unwrap();
    let pattern = dir.path().join("console-{pid}.sock");
    let config = format!(
        "[DEFAULT]\nbackdoor_socket = {}\n[workers]\ncount = 2\nport = 0\n",
        pattern.display()
    );
    let service = Service::start(WORKERS, &config, Stdout::Null);
    service.expect_notify("READY=1");
    let socket_of = |pid: u32| dir.path().join(format!("console-{pid}.sock"));
    wait_until("each worker's socket", || {
        let children = service.children();
        children.len() == 2 && children.iter().all(|pid| socket_of(*pid).exists())
    });
    let children = service.children();
    let killed = children[0];
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(killed as i32).unwrap(),
        rustix::process::Signal::KILL,
    )
    .unwrap();
    wait_until("the killed worker's socket removed", || {
        !socket_of(killed).exists()
    });
    assert!(socket_of(children[1]).exists());
    assert!(socket_of(service.pid()).exists());
}

/// Out of file descriptors, the console's accept loop pauses instead of spinning: the
/// process stays nearly idle, says so at most once a second, and serves again once
/// descriptors are free.
#[test]
fn out_of_descriptors_the_console_backs_off_instead_of_spinning() {
    let service = Service::start(HELLO, &hello_config("backdoor_port = 0"), Stdout::Null);
    service.expect_notify("READY=1");
    let port: u16 = consoles(&service.log())[0].0.parse().unwrap();
    let before = service.starve_of_descriptors();
    let clients: Vec<TcpStream> = (0..4)
        .map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap())
        .collect();
    wait_until("the pause logged", || {
        service
            .log()
            .contains("backdoor cannot accept a client; pausing")
    });
    let cpu = || {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", service.pid())).unwrap();
        let fields: Vec<u64> = stat
            .rsplit_once(')')
            .unwrap()
            .1
            .split_whitespace()
            .skip(11)
            .take(2)
            .map(|n| n.parse().unwrap())
            .collect();
        fields[0] + fields[1]
    };
    let (ticks_before, from) = (cpu(), std::time::Instant::now());
    std::thread::sleep(Duration::from_secs(2));
    let ticks = cpu() - ticks_before;
    let per_second = rustix::param::clock_ticks_per_second();
    // A loop that spins burns a whole core: 2 s of CPU time in 2 s.
    assert!(
        ticks * 2 < per_second * from.elapsed().as_secs(),
        "{ticks} ticks of CPU in {:?}",
        from.elapsed()
    );
    let warnings = service.log_count("backdoor cannot accept a client; pausing");
    assert!(warnings <= 4, "{warnings} warnings in about 2 s");
    service.restore_descriptors(before);
    drop(clients);
    assert!(tcp(port).ask("services").starts_with("hello state=running"));
}

/// A refused reload shows where an operator looks: systemd's status says why, and the
/// console gives the generation of the configuration in force and the refusal, until
/// an accepted reload clears it.
#[test]
fn a_refused_reload_is_visible_to_systemd_and_the_console() {
    let service = Service::start(HELLO, &hello_config("backdoor_port = 0"), Stdout::Null);
    service.expect_notify("READY=1");
    let port = consoles(&service.log())[0].0.parse::<u16>().unwrap();
    let mut console = tcp(port);
    let services = console.ask("services");
    assert!(
        services.contains("configuration generation=0 last_reload_refused=-\n"),
        "{services}"
    );

    service.rewrite_config(
        "[DEFAULT]\nbackdoor_port = 0\n[hello]\nrestart_method = sometimes\ntoken = s3cret\n",
    );
    service.signal(Signal::HUP);
    service.expect_notify("RELOADING=1");
    let ready = service.expect_notify("READY=1");
    assert!(
        ready.contains("STATUS=reload refused: ") && ready.contains("'sometimes'"),
        "{ready}"
    );
    let services = console.ask("services");
    assert!(
        services.contains("configuration generation=0 last_reload_refused=\"")
            && services.contains("restart_method"),
        "{services}"
    );
    let json = console.ask("services --json");
    assert!(json.contains("\"last_reload_refused\":\""), "{json}");

    service.rewrite_config(&hello_config("backdoor_port = 0"));
    service.signal(Signal::HUP);
    service.expect_notify("RELOADING=1");
    let ready = service.expect_notify("READY=1");
    assert!(ready.contains("STATUS=running"), "{ready}");
    // A reload restarts the service; the console stays.
    let services = console.ask("services");
    assert!(
        services.contains("configuration generation=1 last_reload_refused=-\n"),
        "{services}"
    );
    service.signal(Signal::TERM);
}
