//! `[ssl]` when oslo-service is built without its `tls` feature: a `cert_file` or
//! `key_file` is refused at start, on reload and by `--check-config`, with the feature
//! to turn on, rather than served as plain HTTP.

use crate::config::{ConfigError, Snapshot, SslOptions};

/// No acceptor can exist in such a build.
#[derive(Clone)]
pub(super) enum Acceptor {}

/// `None` when `[ssl]` asks for no TLS; an error when it does.
pub(super) fn acceptor(snapshot: &Snapshot) -> Result<Option<Acceptor>, ConfigError> {
    let ssl = snapshot.group::<SslOptions>()?;
    if ssl.cert_file.is_none() && ssl.key_file.is_none() {
        return Ok(None);
    }
    Err(ConfigError::Inconsistent {
        group: "ssl".to_owned(),
        message: "cert_file and key_file ask for TLS, but this program was built without oslo-service's `tls` feature".to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificates_are_refused_naming_the_feature() {
        for ini in [
            "[ssl]\ncert_file = /c.pem\nkey_file = /k.pem\n",
            "[ssl]\nkey_file = /k.pem\n",
        ] {
            let snapshot = Snapshot::from_ini(ini, None).unwrap();
            let text = acceptor(&snapshot).err().unwrap().to_string();
            assert!(text.contains("`tls` feature"), "{text}");
        }
        let snapshot = Snapshot::from_ini("[ssl]\nversion = TLSv1_2\n", None).unwrap();
        assert!(acceptor(&snapshot).unwrap().is_none());
    }
}
