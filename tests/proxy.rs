//! A trusted proxy's headers through the `api` example as a real process: with
//! `[oslo_middleware] enable_proxy_headers_parsing`, `Forwarded` and `X-Forwarded-*`
//! give `/v1/whoami` the client's address, scheme and host, and the access line the
//! client; off, or from a peer outside `trusted_proxies`, they change nothing; a list
//! with entries that are not networks stops the start, each entry named.

mod support;

use std::process::Command;

use support::http::Connection;
use support::{Service, Stdout, exit_code};

const API: &str = env!("CARGO_BIN_EXE_api");

fn start(proxy: &str) -> (Service, u16) {
    let config = format!("[api]\nport = 0\nworkers = 1\n\n[oslo_middleware]\n{proxy}\n");
    support::start_listening(API, &config)
}

/// `/v1/whoami`'s answer to a request with these extra header lines.
fn whoami(port: u16, headers: &str) -> serde_json::Value {
    let answer = Connection::open(port)
        .and_then(|mut conn| conn.get("/v1/whoami", headers))
        .unwrap();
    assert_eq!(answer.status, 200, "{}", answer.text());
    serde_json::from_str(&answer.text()).unwrap()
}

const SPOOFED: &str = "X-Forwarded-For: 203.0.113.9\r\nX-Forwarded-Proto: https\r\n\
                       X-Forwarded-Host: api.example.com\r\n";

#[test]
fn without_parsing_proxy_headers_change_nothing() {
    let (service, port) = start("");
    let answer = whoami(port, SPOOFED);
    assert_eq!(answer["client"], "127.0.0.1", "{answer}");
    assert_eq!(answer["scheme"], "http", "{answer}");
    assert_eq!(answer["host"], "test", "{answer}");
    assert_eq!(answer["proxy"], serde_json::Value::Null, "{answer}");
    service.wait_log_line(&["127.0.0.1 \"GET /v1/whoami HTTP/1.1\" status: 200"]);
}

#[test]
fn with_parsing_any_peer_gives_the_client_scheme_and_host_on_http1_and_http2() {
    let (service, port) = start("enable_proxy_headers_parsing = true");
    let answer = whoami(port, SPOOFED);
    assert_eq!(answer["client"], "203.0.113.9", "{answer}");
    assert_eq!(answer["scheme"], "https", "{answer}");
    assert_eq!(answer["host"], "api.example.com", "{answer}");
    assert_eq!(answer["proxy"], "127.0.0.1", "{answer}");
    // The access line names the client.
    service.wait_log_line(&["203.0.113.9 \"GET /v1/whoami HTTP/1.1\" status: 200"]);

    // RFC 7239, first element (as oslo.middleware reads it), over HTTP/2.
    let output = Command::new("curl")
        .args(["-sS", "--max-time", "30", "--http2-prior-knowledge", "-H"])
        .arg("Forwarded: for=\"[2001:db8::7]:4711\";proto=https;host=h2.example.com, for=10.0.0.9")
        .arg(format!("http://127.0.0.1:{port}/v1/whoami"))
        .output()
        .expect("run curl");
    assert!(output.status.success(), "{output:?}");
    let answer: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(answer["client"], "2001:db8::7", "{answer}");
    assert_eq!(answer["scheme"], "https", "{answer}");
    assert_eq!(answer["host"], "h2.example.com", "{answer}");
    service.wait_log_line(&["2001:db8::7 \"GET /v1/whoami HTTP/2.0\" status: 200"]);
}

#[test]
fn trusted_proxies_believe_only_their_peers_and_walk_back_past_their_own_hops() {
    let (_service, port) =
        start("enable_proxy_headers_parsing = true\ntrusted_proxies = 10.0.0.0/8, fd00::/8");
    let answer = whoami(port, SPOOFED);
    assert_eq!(answer["client"], "127.0.0.1", "{answer}");
    assert_eq!(answer["scheme"], "http", "{answer}");
    assert_eq!(answer["host"], "test", "{answer}");

    let (service, port) =
        start("enable_proxy_headers_parsing = true\ntrusted_proxies = 127.0.0.0/8");
    // What a client wrote before the last untrusted address is its own word.
    let answer = whoami(
        port,
        "X-Forwarded-For: 1.2.3.4, 203.0.113.9, 127.0.0.5\r\nX-Forwarded-Proto: https\r\n",
    );
    assert_eq!(answer["client"], "203.0.113.9", "{answer}");
    assert_eq!(answer["scheme"], "https", "{answer}");
    assert_eq!(answer["proxy"], "127.0.0.1", "{answer}");
    service.wait_log_line(&["203.0.113.9 \"GET /v1/whoami HTTP/1.1\" status: 200"]);
}

#[test]
fn trusted_proxies_that_are_not_networks_stop_the_start_each_named() {
    let config = "[api]\nport = 0\nworkers = 1\n\n[oslo_middleware]\n\
                  trusted_proxies = 10.0.0.0/8, 10.0.0.0/33, lb.example.com\n";
    let mut service = Service::start(API, config, Stdout::Null);
    assert_eq!(exit_code(service.wait_exit()), 1, "{}", service.log());
    let log = service.log();
    for part in [
        ":6: ",
        "trusted_proxies",
        "[oslo_middleware]",
        "'10.0.0.0/33' has a prefix other than 0 to 32",
        "'lb.example.com' is not an address or a network",
    ] {
        assert!(log.contains(part), "{part:?} not in\n{log}");
    }
}
