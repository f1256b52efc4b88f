//! What of an option's value may be shown (in a log line, an error, the console): a
//! secret's value never is. Secrets are the options declared `secret`, those whose
//! names say so (as oslo.utils' `mask_password` reads key names: `*password*`,
//! `*secret*`, `*token*`…), and any value that holds the text of one of them (it was
//! substituted from it). Other values are shown with the credentials inside them
//! masked: the password of a URL's user-info (`mysql+pymysql://nova:****@db/nova`, as
//! a `[database] connection` or a `transport_url` holds it) and `key=value` or
//! `"key": "value"` pairs whose key is one of `mask_password`'s.

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
pub(crate) fn name_is_secret(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    SECRET_KEYS.iter().any(|key| name.contains(key))
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

/// The password of every `scheme://user:password@host` in `text` masked, every host of
/// a list (`rabbit://u:p@h1:5672,u:p@h2:5672/`) included.
fn mask_url_passwords(text: &str) -> Cow<'_, str> {
    if !text.contains("://") {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (before, after) = rest.split_at(at + 3);
        out.push_str(before);
        let end = after
            .find(|c: char| matches!(c, '/' | '?' | '#') || c.is_whitespace())
            .unwrap_or(after.len());
        let (authority, tail) = after.split_at(end);
        let hosts: Vec<String> = authority
            .split(',')
            .map(|host| match host.rsplit_once('@') {
                Some((userinfo, place)) => match userinfo.split_once(':') {
                    Some((user, _password)) => format!("{user}:{MASK}@{place}"),
                    None => host.to_owned(),
                },
                None => host.to_owned(),
            })
            .collect();
        out.push_str(&hosts.join(","));
        rest = tail;
    }
    out.push_str(rest);
    Cow::Owned(out)
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
            "rabbit://openstack:****@ctl1:5672,openstack:****@ctl2:5672/nova",
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
