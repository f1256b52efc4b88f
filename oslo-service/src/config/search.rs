//! Where oslo.config looks for configuration when the command line names none:
//! `<project>.conf` and `<program>.conf` in `~/.<project>/`, `~/`, `/etc/<project>/` and
//! `/etc/` (the first found of each name), and the directories `<project>.conf.d/` and
//! `<program>.conf.d/` in the same places.

use std::path::{Path, PathBuf};

/// The places searched, in order, for `project`: `~/.<project>/`, `~/`,
/// `/etc/<project>/`, `/etc/` (without the home ones when `home` is unknown).
pub(crate) fn places(project: &str, home: Option<&Path>, etc: &Path) -> Vec<PathBuf> {
    let mut places = Vec::with_capacity(4);
    if let Some(home) = home {
        places.push(home.join(format!(".{project}")));
        places.push(home.to_owned());
    }
    places.push(etc.join(project));
    places.push(etc.to_owned());
    places
}

/// The first `<name><suffix>` of each name (project first, then program) found in
/// `places` that is a file (`is_dir` false) or a directory (`is_dir` true).
pub(crate) fn find(names: &[&str], suffix: &str, places: &[PathBuf], is_dir: bool) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = Vec::new();
    for name in names {
        let first = places
            .iter()
            .map(|place| place.join(format!("{name}{suffix}")))
            .find(|path| {
                if is_dir {
                    path.is_dir()
                } else {
                    path.is_file()
                }
            });
        if let Some(path) = first {
            if !found.contains(&path) {
                found.push(path);
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_of_each_name_in_oslo_configs_order() {
        let root = tempfile::tempdir().unwrap();
        let home = root.path().join("home");
        let etc = root.path().join("etc");
        for dir in [
            home.join(".nova"),
            etc.join("nova"),
            etc.join("nova/nova.conf.d"),
        ] {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(etc.join("nova/nova.conf"), "").unwrap();
        std::fs::write(etc.join("nova.conf"), "").unwrap();
        std::fs::write(home.join("nova-api.conf"), "").unwrap();
        let places = places("nova", Some(&home), &etc);
        assert_eq!(
            find(&["nova", "nova-api"], ".conf", &places, false),
            [etc.join("nova/nova.conf"), home.join("nova-api.conf")]
        );
        assert_eq!(
            find(&["nova", "nova-api"], ".conf.d", &places, true),
            [etc.join("nova/nova.conf.d")]
        );
        // One name for both (the default project is the program): found once.
        assert_eq!(find(&["nova", "nova"], ".conf", &places, false).len(), 1);
    }
}
