//! Where a configuration comes from ([`ConfigSources`]), and those sources as bytes for
//! a worker, which reloads from its parent's.

use std::path::{Path, PathBuf};

use super::{ConfigError, providers, snapshot};

/// Where the configuration comes from: `--config-file` paths (later ones win),
/// `--config-dir` directories (each `*.conf` and `*.toml` in them, sorted, read after
/// the files; one such name that is not a readable file is an error), then environment
/// variables named with `env_prefix`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConfigSources {
    /// Files, in the order given.
    pub files: Vec<PathBuf>,
    /// Directories, in the order given.
    pub dirs: Vec<PathBuf>,
    /// The prefix of the environment variables read (`OS_` from the command line);
    /// `None` reads none.
    pub env_prefix: Option<String>,
    /// Values of `#[opt(cli)]` options given on the command line, as `(group, option,
    /// value)`: over every other source, and kept across reloads.
    pub cli: Vec<(String, String, String)>,
}

impl ConfigSources {
    /// Sources made of these files alone.
    pub fn from_files<P: AsRef<Path>>(files: impl IntoIterator<Item = P>) -> Self {
        ConfigSources {
            files: files.into_iter().map(|p| p.as_ref().to_owned()).collect(),
            ..ConfigSources::default()
        }
    }

    /// The same sources, and the environment variables whose names start with `prefix`.
    pub fn with_env(mut self, prefix: impl Into<String>) -> Self {
        self.env_prefix = Some(prefix.into());
        self
    }

    /// The sources as bytes, for a worker to rebuild them with
    /// [`ConfigSources::from_bytes`] instead of parsing the command line again.
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        use std::os::unix::ffi::OsStrExt as _;
        let mut out = Vec::new();
        for paths in [&self.files, &self.dirs] {
            snapshot::netstring(&mut out, paths.len().to_string().as_bytes());
            for path in paths {
                snapshot::netstring(&mut out, path.as_os_str().as_bytes());
            }
        }
        let prefix = self.env_prefix.as_deref();
        snapshot::netstring(&mut out, if prefix.is_some() { b"1" } else { b"0" });
        snapshot::netstring(&mut out, prefix.unwrap_or_default().as_bytes());
        snapshot::netstring(&mut out, self.cli.len().to_string().as_bytes());
        for (group, option, value) in &self.cli {
            for text in [group, option, value] {
                snapshot::netstring(&mut out, text.as_bytes());
            }
        }
        out
    }

    /// The sources [`ConfigSources::to_bytes`] wrote; `None` if the bytes are not such.
    pub(crate) fn from_bytes(bytes: &[u8]) -> Option<Self> {
        use std::os::unix::ffi::OsStrExt as _;
        let mut fields = snapshot::Netstrings(bytes);
        let count = |fields: &mut snapshot::Netstrings<'_>| -> Option<usize> {
            std::str::from_utf8(fields.next()?).ok()?.parse().ok()
        };
        let paths = |fields: &mut snapshot::Netstrings<'_>| -> Option<Vec<PathBuf>> {
            let n = count(fields)?;
            (0..n)
                .map(|_| Some(PathBuf::from(std::ffi::OsStr::from_bytes(fields.next()?))))
                .collect()
        };
        let files = paths(&mut fields)?;
        let dirs = paths(&mut fields)?;
        let has_prefix = fields.next()? == b"1";
        let prefix = String::from_utf8(fields.next()?.to_vec()).ok()?;
        let text =
            |fields: &mut snapshot::Netstrings<'_>| String::from_utf8(fields.next()?.to_vec()).ok();
        let n = count(&mut fields)?;
        let cli = (0..n)
            .map(|_| Some((text(&mut fields)?, text(&mut fields)?, text(&mut fields)?)))
            .collect::<Option<Vec<_>>>()?;
        fields.0.is_empty().then_some(ConfigSources {
            files,
            dirs,
            env_prefix: has_prefix.then_some(prefix),
            cli,
        })
    }

    /// Every file to read, in the order their values apply.
    pub fn paths(&self) -> Result<Vec<PathBuf>, ConfigError> {
        let mut paths = self.files.clone();
        for dir in &self.dirs {
            let read_error = |source| ConfigError::Read {
                path: dir.clone(),
                error: source,
            };
            let mut found = Vec::new();
            for entry in std::fs::read_dir(dir).map_err(read_error)? {
                let path = entry.map_err(read_error)?.path();
                let conf = path.extension().is_some_and(|ext| ext == "conf");
                if !conf && !providers::is_toml(&path) {
                    continue;
                }
                // A name that matches is meant to be read: one that is no file (a
                // directory named `zz.conf`) is an error, not a silent skip.
                if !path.is_file() {
                    return Err(ConfigError::Read {
                        error: std::io::Error::other("not a regular file"),
                        path,
                    });
                }
                found.push(path);
            }
            found.sort();
            paths.extend(found);
        }
        Ok(paths)
    }
}
