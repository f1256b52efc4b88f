//! Where etcd is and how to talk to it, from `[coordination] backend_url` in tooz's
//! spelling: `etcd3+http://HOST:PORT` or `etcd3+https://…`, several members
//! comma-separated in the host part (`etcd3+https://a:2379,b:2379,c:2379`), a user and
//! password in the user-info (`etcd3+https://oslo:secret@etcd:2379`), and, for TLS, the
//! query parameters tooz's etcd drivers read: `ca_cert` (the CA that signed etcd's
//! certificate), `cert_cert` and `cert_key` (this client's certificate and key, when
//! etcd asks for one). The URL as logs show it has its password masked.

use super::tls::{Connector, connector};

/// The default port of an etcd member.
const DEFAULT_PORT: u16 = 2379;

const FORMS: &str = "expected etcd3+http://HOST:PORT or etcd3+https://[USER:PASSWORD@]HOST:PORT[,HOST:PORT…][?ca_cert=PATH&cert_cert=PATH&cert_key=PATH] (etcd v3 through its JSON gateway)";

/// One etcd member's address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Member {
    pub(crate) host: String,
    pub(crate) port: u16,
}

impl Member {
    /// `host:port`, as a socket address is written (an IPv6 host in brackets).
    pub(crate) fn address(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// A parsed `backend_url`.
#[derive(Clone)]
pub(crate) struct Backend {
    pub(crate) members: Vec<Member>,
    /// The TLS client, for `etcd3+https`.
    pub(crate) tls: Option<Connector>,
    /// User and password for etcd's authentication.
    pub(crate) credentials: Option<(String, String)>,
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backend")
            .field("members", &self.members)
            .field("tls", &self.tls.is_some())
            .field("user", &self.credentials.as_ref().map(|(user, _)| user))
            .finish_non_exhaustive()
    }
}

impl Backend {
    /// Reads `url`; the files it names are read now. The error says what is wrong,
    /// without the password.
    pub(crate) fn parse(url: &str) -> Result<Backend, String> {
        let (https, rest) = if let Some(rest) = url.strip_prefix("etcd3+https://") {
            (true, rest)
        } else if let Some(rest) = url.strip_prefix("etcd3+http://") {
            (false, rest)
        } else {
            return Err(FORMS.to_owned());
        };
        let (authority, query) = match rest.split_once('?') {
            Some((authority, query)) => (authority, query),
            None => (rest, ""),
        };
        let authority = authority.trim_end_matches('/');
        let (userinfo, hosts) = match authority.rsplit_once('@') {
            Some((userinfo, hosts)) => (Some(userinfo), hosts),
            None => (None, authority),
        };
        let credentials = match userinfo {
            None => None,
            Some(userinfo) => {
                let (user, password) = userinfo.split_once(':').ok_or_else(|| {
                    "the user-info needs a user and a password: USER:PASSWORD@".to_owned()
                })?;
                Some((percent_decode(user)?, percent_decode(password)?))
            }
        };
        let members = hosts
            .split(',')
            .map(parse_member)
            .collect::<Result<Vec<_>, _>>()?;
        let mut parameters = std::collections::BTreeMap::new();
        for pair in query.split('&').filter(|pair| !pair.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            parameters.insert(name.to_owned(), percent_decode(value)?);
        }
        let tls = if https {
            Some(connector(&parameters)?)
        } else {
            if parameters
                .keys()
                .any(|name| name.starts_with("ca_") || name.starts_with("cert_"))
            {
                return Err("ca_cert, cert_cert and cert_key need etcd3+https://".to_owned());
            }
            None
        };
        Ok(Backend {
            members,
            tls,
            credentials,
        })
    }
}

fn parse_member(text: &str) -> Result<Member, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err(FORMS.to_owned());
    }
    // [v6]:port, host:port, or host alone.
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or_else(|| FORMS.to_owned())?;
        (host, after.strip_prefix(':'))
    } else {
        match text.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (text, None),
        }
    };
    if host.is_empty() {
        return Err(FORMS.to_owned());
    }
    let port = match port {
        Some(port) => port.parse::<u16>().map_err(|_| FORMS.to_owned())?,
        None => DEFAULT_PORT,
    };
    Ok(Member {
        host: host.to_owned(),
        port,
    })
}

/// `%XX` escapes decoded, as a URL's user-info and query carry them.
fn percent_decode(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        if bytes[at] == b'%' {
            let hex = text
                .get(at + 1..at + 3)
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
                .ok_or_else(|| "a % in the URL is not followed by two hex digits".to_owned())?;
            out.push(hex);
            at += 3;
        } else {
            out.push(bytes[at]);
            at += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "the URL's escapes are not UTF-8".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(url: &str) -> Vec<String> {
        Backend::parse(url)
            .unwrap()
            .members
            .iter()
            .map(Member::address)
            .collect()
    }

    #[test]
    fn urls_as_tooz_writes_them() {
        assert_eq!(members("etcd3+http://127.0.0.1:2379"), ["127.0.0.1:2379"]);
        assert_eq!(members("etcd3+http://etcd?timeout=30"), ["etcd:2379"]);
        assert_eq!(
            members("etcd3+http://a:1,b:2,[::1]:3/"),
            ["a:1", "b:2", "[::1]:3"]
        );
        let backend = Backend::parse("etcd3+http://oslo:p%40ss:word@etcd:2379").unwrap();
        assert_eq!(
            backend.credentials,
            Some(("oslo".to_owned(), "p@ss:word".to_owned()))
        );
        for bad in [
            "etcd3://127.0.0.1:2379",
            "etcd3+http://:2379",
            "etcd3+http://h:port",
            "etcd3+http://a:1,,b:2",
            "etcd3+http://user@h:1",
            "etcd3+http://h:1?ca_cert=/x",
        ] {
            assert!(Backend::parse(bad).is_err(), "{bad}");
        }
    }

    #[cfg(feature = "tls")]
    #[test]
    fn an_https_url_names_its_ca_and_the_ca_must_be_read() {
        let error = Backend::parse("etcd3+https://h:1").unwrap_err();
        assert!(error.contains("needs ca_cert"), "{error}");
        let error = Backend::parse("etcd3+https://h:1?ca_cert=/nonexistent/ca.pem").unwrap_err();
        assert!(error.contains("/nonexistent/ca.pem"), "{error}");
    }

    #[cfg(not(feature = "tls"))]
    #[test]
    fn an_https_url_without_the_tls_feature_says_which_feature() {
        let error = Backend::parse("etcd3+https://h:1?ca_cert=/x/ca.pem").unwrap_err();
        assert!(error.contains("`tls` feature"), "{error}");
    }
}
