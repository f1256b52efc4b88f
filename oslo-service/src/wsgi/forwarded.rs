//! Who a request came from: the socket's peer and scheme, or, behind a proxy, what the
//! proxy says (`Forwarded`, RFC 7239, or `X-Forwarded-For`, `-Proto` and `-Host`),
//! believed only with `[oslo_middleware] enable_proxy_headers_parsing` and only from a
//! peer in `trusted_proxies` (any peer when that list is empty, as oslo.middleware
//! believes any). What is believed reaches the application as [`ClientInfo`] and a
//! rewritten `Host`, and the access log as the client's address.

use std::net::IpAddr;

use http::header::{HOST, HeaderMap, HeaderName, HeaderValue};
use http::uri::{Authority, Scheme, Uri};

/// Who a request came from, in every request's extensions (axum:
/// `Extension<oslo::wsgi::ClientInfo>`).
///
/// Without a proxy, or from a peer whose proxy headers are not believed, the client is
/// the socket's peer and the scheme the server's own (`https` under `[ssl]`). Behind a
/// trusted proxy, with `[oslo_middleware] enable_proxy_headers_parsing = true`, they are
/// what the proxy said, and [`ClientInfo::proxy`] is the proxy's address.
///
/// ```
/// use axum::Extension;
/// use oslo::wsgi::ClientInfo;
///
/// async fn whoami(Extension(client): Extension<ClientInfo>) -> String {
///     match client.addr() {
///         Some(addr) => format!("{} over {}", addr, client.scheme()),
///         None => format!("a local client over {}", client.scheme()),
///     }
/// }
/// # let _ = axum::Router::<()>::new().route("/", axum::routing::get(whoami));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientInfo {
    addr: Option<IpAddr>,
    scheme: Scheme,
    proxy: Option<IpAddr>,
}

impl ClientInfo {
    /// The client's address; `None` on a UNIX socket, or when a trusted proxy said the
    /// client is `unknown` or hidden (`for=_name`) and the server listens on one.
    pub fn addr(&self) -> Option<IpAddr> {
        self.addr
    }

    /// The scheme the client used: `http` or `https`.
    pub fn scheme(&self) -> &Scheme {
        &self.scheme
    }

    /// The trusted proxy the request came through, when its headers were believed.
    pub fn proxy(&self) -> Option<IpAddr> {
        self.proxy
    }
}

/// A client's address as log lines show it; `-` on a UNIX socket.
pub(super) fn client_ip(addr: Option<IpAddr>) -> std::sync::Arc<str> {
    addr.map_or_else(|| "-".into(), |ip| ip.to_string().into())
}

/// One network of `trusted_proxies`: an address and how many of its leading bits count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Network {
    addr: IpAddr,
    prefix: u8,
}

impl Network {
    /// `10.0.0.0/8`, `fd00::/8`, or one address.
    pub(super) fn parse(text: &str) -> Result<Network, String> {
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text, None),
        };
        let addr: IpAddr = addr
            .trim()
            .parse()
            .map_err(|_| format!("'{text}' is not an address or a network"))?;
        let bits = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => bits,
            Some(prefix) => match prefix.trim().parse::<u8>() {
                Ok(prefix) if prefix <= bits => prefix,
                _ => return Err(format!("'{text}' has a prefix other than 0 to {bits}")),
            },
        };
        Ok(Network {
            addr: addr.to_canonical(),
            prefix,
        })
    }

    fn contains(&self, addr: IpAddr) -> bool {
        let mask = |bits: u32, width: u32| -> u128 {
            if bits == 0 {
                0
            } else {
                (u128::MAX << (width - bits)) & (u128::MAX >> (128 - width))
            }
        };
        match (self.addr, addr.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(addr)) => {
                let mask = mask(u32::from(self.prefix), 32);
                u128::from(u32::from(net)) & mask == u128::from(u32::from(addr)) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(addr)) => {
                let mask = mask(u32::from(self.prefix), 128);
                u128::from(net) & mask == u128::from(addr) & mask
            }
            _ => false,
        }
    }
}

/// Which peers' proxy headers are believed, from `[oslo_middleware]`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) enum Proxies {
    /// `enable_proxy_headers_parsing = false`: none.
    #[default]
    Ignored,
    /// Those of any peer (`trusted_proxies` empty), or of a peer in these networks.
    Believed(Vec<Network>),
}

/// What one proxy said of the hop before it, in one `Forwarded` element or one entry
/// of `X-Forwarded-For`.
#[derive(Debug, Default, PartialEq, Eq)]
struct Hop<'a> {
    /// Whether it named the hop (`for`), and the address: `None` when it is
    /// `unknown`, hidden (`_name`) or not an address.
    named: bool,
    addr: Option<IpAddr>,
    proto: Option<&'a str>,
    host: Option<&'a str>,
}

/// What the believed proxy said of the client.
#[derive(Debug, Default, PartialEq, Eq)]
struct Said {
    /// `None`: nothing; `Some(None)`: a client it does not name.
    addr: Option<Option<IpAddr>>,
    scheme: Option<Scheme>,
    host: Option<Authority>,
}

const FORWARDED: HeaderName = HeaderName::from_static("forwarded");
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

impl Proxies {
    /// Reads `[oslo_middleware]`: every entry of `trusted_proxies` that is not a network
    /// is named in the one error, whether parsing is on or not.
    pub(super) fn read(enabled: bool, trusted: &[String]) -> Result<Proxies, String> {
        let mut networks = Vec::with_capacity(trusted.len());
        let mut bad = Vec::new();
        for entry in trusted {
            match Network::parse(entry) {
                Ok(network) => networks.push(network),
                Err(reason) => bad.push(reason),
            }
        }
        if !bad.is_empty() {
            return Err(bad.join("; "));
        }
        Ok(if enabled {
            Proxies::Believed(networks)
        } else {
            Proxies::Ignored
        })
    }

    /// Who the request with these `parts` came from, over a socket from `peer` (`None`
    /// on a UNIX socket) with TLS or not. A believed host replaces `Host` (and the URI's
    /// authority, where it has one: HTTP/2).
    pub(super) fn client(
        &self,
        peer: Option<IpAddr>,
        tls: bool,
        parts: &mut http::request::Parts,
    ) -> ClientInfo {
        let direct = ClientInfo {
            addr: peer,
            scheme: if tls { Scheme::HTTPS } else { Scheme::HTTP },
            proxy: None,
        };
        let Proxies::Believed(networks) = self else {
            return direct;
        };
        // A UNIX socket's peer is on this host, and trusted as a listed proxy is.
        if peer.is_some_and(|peer| !trusts(networks, peer)) {
            return direct;
        }
        let Some(said) = said(&parts.headers, networks) else {
            return direct;
        };
        let scheme = said.scheme.unwrap_or(direct.scheme);
        if let Some(host) = said.host {
            if let Ok(value) = HeaderValue::from_str(host.as_str()) {
                parts.headers.insert(HOST, value);
            }
            if parts.uri.authority().is_some() {
                let mut uri = parts.uri.clone().into_parts();
                uri.scheme = Some(scheme.clone());
                uri.authority = Some(host);
                if let Ok(uri) = Uri::from_parts(uri) {
                    parts.uri = uri;
                }
            }
        }
        ClientInfo {
            addr: said.addr.unwrap_or(peer),
            scheme,
            proxy: peer,
        }
    }
}

fn trusts(networks: &[Network], addr: IpAddr) -> bool {
    networks.is_empty() || networks.iter().any(|network| network.contains(addr))
}

/// What the headers say of the client, if they say anything: `Forwarded` when there
/// is one, else the `X-Forwarded-*` headers.
fn said(headers: &HeaderMap, networks: &[Network]) -> Option<Said> {
    if let Some(value) = joined(headers, &FORWARDED) {
        let hops: Vec<Hop<'_>> = split_outside_quotes(&value, ',')
            .map(forwarded_element)
            .collect();
        let hop = client_hop(&hops, networks)?;
        return Some(Said {
            addr: hop.named.then_some(hop.addr),
            scheme: hop.proto.and_then(scheme),
            host: hop.host.and_then(authority),
        });
    }
    let chain = joined(headers, &X_FORWARDED_FOR);
    let proto = first_value(headers, &X_FORWARDED_PROTO);
    let host = first_value(headers, &X_FORWARDED_HOST);
    if chain.is_none() && proto.is_none() && host.is_none() {
        return None;
    }
    let addr = chain.as_deref().and_then(|chain| {
        let hops: Vec<Hop<'_>> = split_outside_quotes(chain, ',')
            .map(|node| Hop {
                named: true,
                addr: node_addr(node),
                ..Hop::default()
            })
            .collect();
        client_hop(&hops, networks).map(|hop| hop.addr)
    });
    Some(Said {
        addr,
        scheme: proto.as_deref().and_then(scheme),
        host: host.as_deref().and_then(authority),
    })
}

/// The hop that is the client: with no list of trusted proxies, the first (as
/// oslo.middleware takes it); with one, the last that is not a trusted proxy, for
/// only the trusted ones' words are believed (or the first, if every one is).
fn client_hop<'h, 'a>(hops: &'h [Hop<'a>], networks: &[Network]) -> Option<&'h Hop<'a>> {
    if networks.is_empty() {
        return hops.first();
    }
    hops.iter()
        .rev()
        .find(|hop| !hop.addr.is_some_and(|addr| trusts(networks, addr)))
        .or(hops.first())
}

/// Every value of a header that may be repeated, as one list.
fn joined(headers: &HeaderMap, name: &HeaderName) -> Option<String> {
    let values: Vec<&str> = headers
        .get_all(name)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .collect();
    (!values.is_empty()).then(|| values.join(","))
}

/// The first entry of a header's list.
fn first_value(headers: &HeaderMap, name: &HeaderName) -> Option<String> {
    let value = headers.get(name)?.to_str().ok()?;
    split_outside_quotes(value, ',')
        .next()
        .filter(|first| !first.is_empty())
        .map(str::to_owned)
}

/// `text` split at `separator` where it is not inside a quoted string, each part
/// trimmed.
fn split_outside_quotes(text: &str, separator: char) -> impl Iterator<Item = &str> {
    let mut quoted = false;
    let mut escaped = false;
    text.split(move |c: char| {
        if escaped {
            escaped = false;
        } else if quoted && c == '\\' {
            escaped = true;
        } else if c == '"' {
            quoted = !quoted;
        } else if c == separator && !quoted {
            return true;
        }
        false
    })
    .map(str::trim)
}

/// One `Forwarded` element: `for=192.0.2.60;proto=https;host=example.com`.
fn forwarded_element(element: &str) -> Hop<'_> {
    let mut hop = Hop::default();
    for pair in split_outside_quotes(element, ';') {
        let Some((key, value)) = pair.split_once('=') else {
            continue;
        };
        let value = unquoted(value.trim());
        match key.trim().to_ascii_lowercase().as_str() {
            "for" => {
                hop.named = true;
                hop.addr = node_addr(value);
            }
            "proto" => hop.proto = Some(value),
            "host" => hop.host = Some(value),
            _ => {}
        }
    }
    hop
}

fn unquoted(value: &str) -> &str {
    value
        .strip_prefix('"')
        .and_then(|value| value.strip_suffix('"'))
        .unwrap_or(value)
}

/// A node's address: `192.0.2.60`, `192.0.2.60:4711`, `[2001:db8::1]:4711`,
/// `2001:db8::1`; `None` for `unknown`, a hidden name (`_gazonk`) or anything else.
fn node_addr(node: &str) -> Option<IpAddr> {
    let node = unquoted(node.trim());
    if let Some(bracketed) = node.strip_prefix('[') {
        let (addr, _port) = bracketed.split_once(']')?;
        return addr.parse::<std::net::Ipv6Addr>().ok().map(IpAddr::V6);
    }
    if let Ok(addr) = node.parse::<IpAddr>() {
        return Some(addr);
    }
    let (addr, port) = node.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    addr.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
}

fn scheme(proto: &str) -> Option<Scheme> {
    match proto.trim().to_ascii_lowercase().as_str() {
        "http" => Some(Scheme::HTTP),
        "https" => Some(Scheme::HTTPS),
        _ => None,
    }
}

/// A host the proxy named, if it is one: a name or an address, and a port.
fn authority(host: &str) -> Option<Authority> {
    let host = host.trim();
    if host.is_empty() || host.contains('@') {
        return None;
    }
    host.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn network(text: &str) -> Network {
        Network::parse(text).unwrap()
    }

    #[test]
    fn networks_are_read_and_contain_their_addresses() {
        assert!(network("10.0.0.0/8").contains("10.200.1.2".parse().unwrap()));
        assert!(!network("10.0.0.0/8").contains("11.0.0.1".parse().unwrap()));
        assert!(network("192.0.2.7").contains("192.0.2.7".parse().unwrap()));
        assert!(!network("192.0.2.7").contains("192.0.2.8".parse().unwrap()));
        assert!(network("0.0.0.0/0").contains("203.0.113.9".parse().unwrap()));
        assert!(network("fd00::/8").contains("fd12::1".parse().unwrap()));
        assert!(!network("fd00::/8").contains("fe80::1".parse().unwrap()));
        assert!(network("::/0").contains("2001:db8::1".parse().unwrap()));
        // An IPv4 peer on a dual-stack socket arrives mapped into IPv6.
        assert!(network("127.0.0.0/8").contains("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!network("10.0.0.0/8").contains("fd00::1".parse().unwrap()));
        for bad in [
            "10.0.0.0/33",
            "fd00::/129",
            "10.0.0/8",
            "proxy.example.com",
            "",
            "1.2.3.4/x",
        ] {
            assert!(Network::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn trusted_proxies_name_every_bad_entry_at_once() {
        let error = Proxies::read(
            true,
            &["10.0.0.0/8".into(), "10.0.0.0/33".into(), "lb".into()],
        )
        .unwrap_err();
        assert_eq!(
            error,
            "'10.0.0.0/33' has a prefix other than 0 to 32; 'lb' is not an address or a network"
        );
        assert_eq!(Proxies::read(false, &[]), Ok(Proxies::Ignored));
        assert_eq!(Proxies::read(true, &[]), Ok(Proxies::Believed(Vec::new())));
    }

    fn request(headers: &[(&str, &str)]) -> http::request::Parts {
        let mut builder = http::Request::builder().uri("/v1/whoami");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(()).unwrap().into_parts().0
    }

    fn client_of(
        proxies: &Proxies,
        peer: &str,
        headers: &[(&str, &str)],
    ) -> (ClientInfo, http::request::Parts) {
        let mut parts = request(headers);
        let client = proxies.client(Some(peer.parse().unwrap()), false, &mut parts);
        (client, parts)
    }

    fn addr(text: &str) -> Option<IpAddr> {
        Some(text.parse().unwrap())
    }

    #[test]
    fn without_parsing_the_headers_are_ignored() {
        let (client, parts) = client_of(
            &Proxies::Ignored,
            "10.0.0.5",
            &[
                ("x-forwarded-for", "203.0.113.9"),
                ("x-forwarded-host", "api.example.com"),
            ],
        );
        assert_eq!(client.addr(), addr("10.0.0.5"));
        assert_eq!(client.scheme(), &Scheme::HTTP);
        assert_eq!(client.proxy(), None);
        assert!(parts.headers.get(HOST).is_none());
    }

    #[test]
    fn forwarded_gives_the_first_element_when_any_peer_is_trusted() {
        let any = Proxies::Believed(Vec::new());
        let (client, parts) = client_of(
            &any,
            "10.0.0.5",
            &[(
                "forwarded",
                "for=\"[2001:db8::7]:4711\";proto=https;host=api.example.com, for=10.0.0.9",
            )],
        );
        assert_eq!(client.addr(), addr("2001:db8::7"));
        assert_eq!(client.scheme(), &Scheme::HTTPS);
        assert_eq!(client.proxy(), addr("10.0.0.5"));
        assert_eq!(parts.headers[HOST], "api.example.com");
        // Forwarded wins over X-Forwarded-For; a hidden client has no address.
        let (client, _) = client_of(
            &any,
            "10.0.0.5",
            &[
                ("forwarded", "for=_hidden;proto=http"),
                ("x-forwarded-for", "203.0.113.9"),
            ],
        );
        assert_eq!(client.addr(), None);
        assert_eq!(client.scheme(), &Scheme::HTTP);
    }

    #[test]
    fn x_forwarded_headers_give_the_client_scheme_and_host() {
        let any = Proxies::Believed(Vec::new());
        let (client, parts) = client_of(
            &any,
            "10.0.0.5",
            &[
                ("x-forwarded-for", "203.0.113.9:5555, 10.0.0.9"),
                ("x-forwarded-proto", "HTTPS"),
                ("x-forwarded-host", "api.example.com:8443"),
            ],
        );
        assert_eq!(client.addr(), addr("203.0.113.9"));
        assert_eq!(client.scheme(), &Scheme::HTTPS);
        assert_eq!(parts.headers[HOST], "api.example.com:8443");
        // Values that are not a scheme or a host are ignored.
        let (client, parts) = client_of(
            &any,
            "10.0.0.5",
            &[
                ("x-forwarded-proto", "gopher"),
                ("x-forwarded-host", "user@evil"),
            ],
        );
        assert_eq!(client.addr(), addr("10.0.0.5"));
        assert_eq!(client.scheme(), &Scheme::HTTP);
        assert!(parts.headers.get(HOST).is_none());
    }

    #[test]
    fn with_trusted_networks_only_their_peers_are_believed_and_the_chain_is_walked_back() {
        let trusted = Proxies::read(true, &["10.0.0.0/8".into()]).unwrap();
        // From an untrusted peer, nothing is believed.
        let (client, parts) = client_of(
            &trusted,
            "198.51.100.1",
            &[
                ("x-forwarded-for", "203.0.113.9"),
                ("x-forwarded-host", "api.example.com"),
            ],
        );
        assert_eq!(client.addr(), addr("198.51.100.1"));
        assert_eq!(client.proxy(), None);
        assert!(parts.headers.get(HOST).is_none());
        // From a trusted one, the last address that is not a trusted proxy is the
        // client: what a client wrote before it is its own word.
        let (client, _) = client_of(
            &trusted,
            "10.0.0.5",
            &[("x-forwarded-for", "1.2.3.4, 203.0.113.9, 10.0.0.9")],
        );
        assert_eq!(client.addr(), addr("203.0.113.9"));
        assert_eq!(client.proxy(), addr("10.0.0.5"));
        let (client, _) = client_of(
            &trusted,
            "10.0.0.5",
            &[(
                "forwarded",
                "for=1.2.3.4, for=203.0.113.9;proto=https, for=10.0.0.9",
            )],
        );
        assert_eq!(client.addr(), addr("203.0.113.9"));
        assert_eq!(client.scheme(), &Scheme::HTTPS);
        // Every hop a trusted proxy: the first.
        let (client, _) = client_of(
            &trusted,
            "10.0.0.5",
            &[("x-forwarded-for", "10.1.1.1, 10.0.0.9")],
        );
        assert_eq!(client.addr(), addr("10.1.1.1"));
    }

    #[test]
    fn an_http2_request_gets_the_host_in_its_uri() {
        let any = Proxies::Believed(Vec::new());
        let mut parts = http::Request::builder()
            .uri("http://10.0.0.1:8780/v1/whoami?x=1")
            .header("x-forwarded-host", "api.example.com")
            .header("x-forwarded-proto", "https")
            .body(())
            .unwrap()
            .into_parts()
            .0;
        any.client(addr("10.0.0.5"), false, &mut parts);
        assert_eq!(parts.uri, "https://api.example.com/v1/whoami?x=1");
    }

    #[test]
    fn node_addresses_in_every_form() {
        assert_eq!(node_addr("192.0.2.60"), addr("192.0.2.60"));
        assert_eq!(node_addr("\"192.0.2.60:80\""), addr("192.0.2.60"));
        assert_eq!(
            node_addr("\"[2001:db8:cafe::17]:4711\""),
            addr("2001:db8:cafe::17")
        );
        assert_eq!(node_addr("[2001:db8::1]"), addr("2001:db8::1"));
        assert_eq!(node_addr("2001:db8::1"), addr("2001:db8::1"));
        for none in [
            "unknown",
            "_gazonk",
            "",
            "[::1",
            "example.com:80",
            "1.2.3.4:port",
        ] {
            assert_eq!(node_addr(none), None, "{none}");
        }
    }
}
