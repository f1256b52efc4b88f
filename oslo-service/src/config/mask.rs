//! What of an option's value may be shown (in a log line, an error, the console): a
//! secret's value never is. Secrets are the options declared `secret`, those whose
//! names say so (as oslo.utils' `mask_password` reads key names: `*password*`,
//! `*secret*`, `*token*`…), and any value that holds the text of one of them (it was
//! substituted from it). Other values are shown with the credentials inside them
//! masked: the password of a URL's user-info (`mysql+pymysql://nova:****@db/nova`, as
//! a `[database] connection` or a `transport_url` holds it, whatever characters the
//! password holds) and `key=value` or `"key": "value"` pairs whose key is one of
//! `mask_password`'s. An error shows nothing of a value that looks like a URL but does
//! not read as one.

use std::borrow::Cow;

use super::Snapshot;

/// What a masked value, or the masked part of one, shows.
pub(crate) const MASK: &str = "****";

/// Parts of option names and keys that mark a secret: oslo.utils' `_SANITIZE_KEYS`,
/// lower-cased, found anywhere in the name (as its patterns find them).
const SECRET_KEYS: &[&str] = &[
    "password",
    "passwd",
    "pswd",
    "passphrase",
    "secret",
    "token",
    "admin_pass",
    "adminpass",
    "new_pass",
    "configdrive",
    "encrypted_key",
    "private_key",
    "privkey",
    "fernetkey",
    "sslkey",
    "cephxkey",
    "credential",
];

/// Whether the name of an option (or of a key inside a value) says it holds a secret.
/// One pass over the name, comparing without case and allocating nothing: a load may
/// ask it of every option of a large file.
pub(crate) fn name_is_secret(name: &str) -> bool {
    let name = name.as_bytes();
    (0..name.len()).any(|at| {
        let rest = &name[at..];
        SECRET_KEYS.iter().any(|key| {
            rest.len() >= key.len() && rest[..key.len()].eq_ignore_ascii_case(key.as_bytes())
        })
    })
}

/// Masks the values of one snapshot: knows which texts are secrets, so that a value
/// substituted from one is masked too.
#[derive(Debug, Default)]
pub(crate) struct Masker {
    /// The texts of the secret options set in the snapshot, longest first.
    secrets: Vec<String>,
}

impl Masker {
    /// The masker of `snapshot`, where `declared_secret` tells whether a declaration
    /// makes `(group, option)` a secret.
    pub(crate) fn new(snapshot: &Snapshot, declared_secret: impl Fn(&str, &str) -> bool) -> Self {
        let mut secrets: Vec<String> = snapshot
            .iter_unordered()
            .filter(|(group, option, _)| declared_secret(group, option) || name_is_secret(option))
            .flat_map(|(_, _, values)| values.iter().map(|value| value.text.trim().to_owned()))
            .filter(|text| !text.is_empty())
            .collect();
        secrets.sort_unstable_by_key(|text| std::cmp::Reverse(text.len()));
        secrets.dedup();
        Masker { secrets }
    }

    /// `text`, the value of an option that is `secret` (declared so, or by its name), as
    /// it may be shown.
    pub(crate) fn show<'a>(&self, secret: bool, text: &'a str) -> Cow<'a, str> {
        if secret || self.secrets.iter().any(|s| text.contains(s.as_str())) {
            return Cow::Borrowed(MASK);
        }
        mask_inline(text)
    }

    /// [`Masker::show`] for an error, which may quote the value it refuses: a value that
    /// looks like a URL but does not read as one shows nothing.
    pub(crate) fn show_in_error<'a>(&self, secret: bool, text: &'a str) -> Cow<'a, str> {
        if text.contains("://") && !urls_parse(text) {
            return Cow::Borrowed(MASK);
        }
        self.show(secret, text)
    }

    /// Whether an error may show nothing of `text`, a value of no secret option: it holds
    /// a secret's text, a URL's password, a `password=…` pair, or a URL that does not
    /// read as one.
    pub(crate) fn holds_secret(&self, text: &str) -> bool {
        self.show_in_error(false, text) != text
    }
}

/// `text` with the credentials it holds masked: URL passwords and secret `key=value`
/// pairs; borrowed as it is when it holds none.
pub(crate) fn mask_inline(text: &str) -> Cow<'_, str> {
    let urls = mask_url_passwords(text);
    match mask_pairs(&urls) {
        Cow::Borrowed(_) => urls,
        Cow::Owned(masked) => Cow::Owned(masked),
    }
}

/// The password of a URL's user-info masked. The user-info runs from the `://` to the
/// last `@` after it, whatever it holds: a password may hold `/`, `?`, `#`, `@`, `:` or a
/// space, and is then no longer a URL a parser reads. The password is everything after
/// the user-info's first `:`. Several hosts (`rabbit://u:p@h1:5672,u:p@h2:5672/`) show
/// as the last one: what lies between could be any password's text.
fn mask_url_passwords(text: &str) -> Cow<'_, str> {
    let Some(scheme) = text.find("://") else {
        return Cow::Borrowed(text);
    };
    let start = scheme + 3;
    let rest = &text[start..];
    let Some(at) = rest.rfind('@') else {
        return Cow::Borrowed(text);
    };
    let Some(colon) = rest[..at].find(':') else {
        return Cow::Borrowed(text);
    };
    Cow::Owned(format!(
        "{}{MASK}{}",
        &text[..start + colon + 1],
        &rest[at..]
    ))
}

/// Whether every URL in `text` reads as one: a scheme, an authority of
/// `[user-info@]host[:port]` entries separated by commas up to the first `/`, `?`, `#`
/// or space, and no `@` anywhere after it. A password holding one of those breaks its
/// URL before its `@`: an error then shows nothing of the value.
pub(crate) fn urls_parse(text: &str) -> bool {
    let mut rest = text;
    while let Some(found) = rest.find("://") {
        let scheme = rest[..found]
            .rsplit(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
            .next()
            .unwrap_or_default();
        if !scheme.starts_with(|c: char| c.is_ascii_alphabetic()) {
            return false;
        }
        let after = &rest[found + 3..];
        let end = after
            .find(|c: char| matches!(c, '/' | '?' | '#') || c.is_whitespace())
            .unwrap_or(after.len());
        let (authority, tail) = after.split_at(end);
        if tail.contains('@') || !(authority.is_empty() || authority.split(',').all(entry_parses)) {
            return false;
        }
        rest = tail;
    }
    true
}

/// One `[user-info@]host[:port]` of an authority: a host of name characters or an IPv6
/// address in brackets, a port of digits.
fn entry_parses(entry: &str) -> bool {
    let place = entry.rsplit_once('@').map_or(entry, |(_, place)| place);
    let (host, port) = match place.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some((address, after)) => (
                address
                    .chars()
                    .all(|c| c.is_ascii_hexdigit() || matches!(c, ':' | '.')),
                after,
            ),
            None => return false,
        },
        None => {
            let end = place.find(':').unwrap_or(place.len());
            let host = &place[..end];
            (
                !host.is_empty()
                    && host.chars().all(|c| {
                        c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '~' | '%')
                    }),
                &place[end..],
            )
        }
    };
    let port_reads = port.is_empty()
        || port.strip_prefix(':').is_some_and(|digits| {
            !digits.is_empty() && digits.len() <= 5 && digits.bytes().all(|b| b.is_ascii_digit())
        });
    host && port_reads
}

/// The value of every `key=value`, `key: value`, `"key": "value"` pair whose key says it
/// is a secret masked: the value runs to its closing quote, or to a space, `&`, `,`,
/// `;` or the end.
fn mask_pairs(text: &str) -> Cow<'_, str> {
    let lower = text.to_ascii_lowercase();
    if !SECRET_KEYS.iter().any(|key| lower.contains(key)) {
        return Cow::Borrowed(text);
    }
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut at = 0;
    while at < bytes.len() {
        let Some(key) = SECRET_KEYS
            .iter()
            .find(|key| lower.as_bytes()[at..].starts_with(key.as_bytes()))
        else {
            at += 1;
            continue;
        };
        // The rest of the key's word, a closing quote, spaces, then `=` or `:`.
        let mut cursor = at + key.len();
        while cursor < bytes.len()
            && (bytes[cursor].is_ascii_alphanumeric() || bytes[cursor] == b'_')
        {
            cursor += 1;
        }
        if cursor < bytes.len() && matches!(bytes[cursor], b'"' | b'\'') {
            cursor += 1;
        }
        while cursor < bytes.len() && bytes[cursor] == b' ' {
            cursor += 1;
        }
        if cursor >= bytes.len() || !matches!(bytes[cursor], b'=' | b':') {
            at = cursor.max(at + 1);
            continue;
        }
        cursor += 1;
        while cursor < bytes.len() && bytes[cursor] == b' ' {
            cursor += 1;
        }
        let quote = bytes
            .get(cursor)
            .copied()
            .filter(|b| matches!(b, b'"' | b'\''));
        let start = cursor + usize::from(quote.is_some());
        let end = match quote {
            Some(quote) => bytes[start..]
                .iter()
                .position(|&b| b == quote)
                .map_or(bytes.len(), |n| start + n),
            None => bytes[start..]
                .iter()
                .position(|&b| b.is_ascii_whitespace() || matches!(b, b'&' | b',' | b';'))
                .map_or(bytes.len(), |n| start + n),
        };
        if end > start {
            out.push_str(&text[copied..start]);
            out.push_str(MASK);
            copied = end;
        }
        at = end.max(at + 1);
    }
    if copied == 0 {
        return Cow::Borrowed(text);
    }
    out.push_str(&text[copied..]);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ConfigError, InvalidValue};

    /// Values as nova.conf, keystone.conf, neutron.conf and cinder.conf write them: the
    /// option, its value, and what may be shown of it.
    const TABLE: &[(&str, &str, &str)] = &[
        // [database] connection, [api_database] connection: the URL's password.
        (
            "connection",
            "mysql+pymysql://nova:DbPa55@db/nova",
            "mysql+pymysql://nova:****@db/nova",
        ),
        (
            "connection",
            "mysql+pymysql://nova:p%40ss@10.0.0.5:3306/nova_api?charset=utf8",
            "mysql+pymysql://nova:****@10.0.0.5:3306/nova_api?charset=utf8",
        ),
        (
            "connection",
            "sqlite:////var/lib/nova/nova.sqlite",
            "sqlite:////var/lib/nova/nova.sqlite",
        ),
        // [DEFAULT] transport_url, with several hosts.
        (
            "transport_url",
            "rabbit://nova:S3cretPass@rabbit:5672/",
            "rabbit://nova:****@rabbit:5672/",
        ),
        (
            "transport_url",
            "rabbit://openstack:pw1@ctl1:5672,openstack:pw2@ctl2:5672/nova",
            "rabbit://openstack:****@ctl2:5672/nova",
        ),
        // Passwords holding what ends a URL's authority: the user-info still runs to
        // the last `@`.
        (
            "connection",
            "mysql+pymysql://nova:se/cret9@db/nova",
            "mysql+pymysql://nova:****@db/nova",
        ),
        (
            "transport_url",
            "rabbit://nova:pa?ss77@host:5672/",
            "rabbit://nova:****@host:5672/",
        ),
        (
            "backend_argument",
            "url:redis://u:ha#sh55@cache:6379",
            "url:redis://u:****@cache:6379",
        ),
        (
            "connection",
            "mysql://nova:a@b:c d@db/nova",
            "mysql://nova:****@db/nova",
        ),
        // [cache] backend_argument, [keystone_authtoken] memcached: no credentials.
        (
            "memcached_servers",
            "ctl1:11211,ctl2:11211",
            "ctl1:11211,ctl2:11211",
        ),
        (
            "auth_url",
            "http://keystone:5000/v3",
            "http://keystone:5000/v3",
        ),
        // [keystone_authtoken] password, [neutron] password, metadata_proxy_shared_secret,
        // [vnc] ... by their names.
        ("password", "K3ystonePw", "****"),
        ("metadata_proxy_shared_secret", "m3ta", "****"),
        ("admin_token", "ADMIN", "****"),
        ("memcache_secret_key", "abc", "****"),
        (
            "rbd_secret_uuid",
            "457eb676-33da-42ec-9a8c-9293d545c337",
            "****",
        ),
        ("ssl_key_password", "x", "****"),
        ("fernet_credentials_key", "k", "****"),
        // Secrets inside other values: oslo.utils' key=value and JSON shapes.
        (
            "backend_argument",
            "url:redis://:r3dis@cache:6379",
            "url:redis://:****@cache:6379",
        ),
        (
            "connection",
            "postgresql://db/cinder?user=cinder&password=Pg5ecret&sslmode=require",
            "postgresql://db/cinder?user=cinder&password=****&sslmode=require",
        ),
        (
            "extra_args",
            r#"{"admin_password": "hunter2", "user": "x"}"#,
            r#"{"admin_password": "****", "user": "x"}"#,
        ),
        (
            "driver_opts",
            "auth_token=abc123 timeout=5",
            "auth_token=**** timeout=5",
        ),
        // Nothing to mask.
        ("host", "compute-1", "compute-1"),
        ("my_ip", "10.0.0.11", "10.0.0.11"),
        ("debug", "true", "true"),
        (
            "api_paste_config",
            "/etc/nova/api-paste.ini",
            "/etc/nova/api-paste.ini",
        ),
    ];

    #[test]
    fn secret_names_are_found_anywhere_in_any_case() {
        for name in [
            "password",
            "admin_password",
            "DB_PASSWORD",
            "keystone_authtoken",
            "AdminPass",
            "sslkey_file",
            "Ünïcode_Token",
            "x_credentials",
        ] {
            assert!(name_is_secret(name), "{name}");
        }
        for name in [
            "",
            "p",
            "pass",
            "port",
            "passw",
            "tok",
            "key",
            "ünïcode",
            "default_opt_1",
        ] {
            assert!(!name_is_secret(name), "{name}");
        }
    }

    #[test]
    fn real_shapes_of_openstack_values() {
        let masker = Masker::default();
        for (option, value, shown) in TABLE {
            assert_eq!(
                masker.show(name_is_secret(option), value),
                *shown,
                "{option} = {value}"
            );
        }
    }

    /// A deterministic stream of numbers (splitmix64): the same cases on every run.
    struct Cases(u64);

    impl Cases {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }

        /// A password of 8 to 32 printable ASCII characters, space to `~`, each as
        /// likely; every fourth one full of what ends a URL's parts.
        fn password(&mut self) -> String {
            let len = 8 + (self.next() % 25) as usize;
            let troublesome = self.next() % 4 == 0;
            (0..len)
                .map(|_| {
                    if troublesome {
                        let set = b"/?#@:%, $&=;[]";
                        char::from(set[(self.next() % set.len() as u64) as usize])
                    } else {
                        char::from(b' ' + (self.next() % 95) as u8)
                    }
                })
                .collect()
        }
    }

    /// URLs as services write them, around a password: what precedes it, what follows
    /// it, and what may be shown of the whole.
    const SHAPES: &[(&str, &str, &str)] = &[
        (
            "mysql+pymysql://nova:",
            "@db/nova",
            "mysql+pymysql://nova:****@db/nova",
        ),
        (
            "rabbit://nova:",
            "@host:5672/",
            "rabbit://nova:****@host:5672/",
        ),
        (
            "url:redis://u:",
            "@cache:6379",
            "url:redis://u:****@cache:6379",
        ),
        (
            "etcd3+https://oslo:",
            "@etcd:2379?ca_cert=/etc/ca.pem",
            "etcd3+https://oslo:****@etcd:2379?ca_cert=/etc/ca.pem",
        ),
        (
            "postgresql://cinder:",
            "@[fd00::5]:5432/cinder?sslmode=require",
            "postgresql://cinder:****@[fd00::5]:5432/cinder?sslmode=require",
        ),
        ("redis://:", "@cache:6379/0", "redis://:****@cache:6379/0"),
    ];

    #[test]
    fn no_password_of_any_printable_characters_shows_in_a_value_or_an_error() {
        let mut cases = Cases(0x0510_0033);
        let masker = Masker::default();
        for _ in 0..4000 {
            let password = cases.password();
            let second = cases.password();
            let mut values: Vec<(String, String)> = SHAPES
                .iter()
                .map(|(before, after, shown)| {
                    (format!("{before}{password}{after}"), (*shown).to_owned())
                })
                .collect();
            values.push((
                format!("rabbit://a:{password}@h1:5672,b:{second}@h2:5672/"),
                "rabbit://a:****@h2:5672/".to_owned(),
            ));
            for (value, shown) in &values {
                assert_eq!(masker.show(false, value), *shown, "{value:?}");
                let in_error = masker.show_in_error(false, value);
                assert!(
                    in_error == *shown || in_error == MASK,
                    "{value:?}: {in_error}"
                );
                assert!(masker.holds_secret(value), "{value:?}");
                // An error that quotes the value in its reason, as a parser's may.
                let error = ConfigError::InvalidValue(Box::new(InvalidValue {
                    file: None,
                    line: 1,
                    group: "database".to_owned(),
                    option: "connection".to_owned(),
                    value: value.clone(),
                    reason: format!("cannot connect to {value}"),
                }))
                .masked(super::super::error::shown_by_name)
                .to_string();
                for secret in [&password, &second] {
                    assert!(!error.contains(secret.as_str()), "{value:?}: {error}");
                }
            }
        }
    }

    #[test]
    fn an_error_shows_nothing_of_a_url_that_does_not_read_as_one() {
        let masker = Masker::default();
        for broken in [
            "mysql+pymysql://nova:se/cret9@db/nova",
            "rabbit://nova:pa?ss77@host:5672/",
            "url:redis://u:ha#sh55@cache:6379",
            "mysql://nova:12 ab@db/nova",
            "http://h:80/x?mail=a@b",
        ] {
            assert_eq!(masker.show_in_error(false, broken), MASK, "{broken}");
        }
        for fine in [
            "sqlite:////var/lib/nova/nova.sqlite",
            "http://keystone:5000/v3",
            "rabbit://h1:5672,h2:5672/",
            "http://[::1]:8080/",
        ] {
            assert_eq!(masker.show_in_error(false, fine), fine);
        }
        assert_eq!(
            masker.show_in_error(false, "mysql://nova:p@ss@db/nova"),
            "mysql://nova:****@db/nova"
        );
    }

    #[test]
    fn a_value_substituted_from_a_secret_is_masked() {
        let snapshot = Snapshot::from_ini(
            "[db]\npassword = Pg5ecret\nhint = none\n[app]\nurl = https://h/?p=Pg5ecret\nname = app\n",
            None,
        )
        .unwrap();
        let masker = Masker::new(&snapshot, |_, _| false);
        assert_eq!(masker.show(false, "https://h/?p=Pg5ecret"), MASK);
        assert_eq!(masker.show(false, "app"), "app");
        // A declared secret whose name says nothing.
        let masker = Masker::new(&snapshot, |group, option| {
            group == "app" && option == "name"
        });
        assert_eq!(masker.show(false, "my app"), MASK);
    }
}
