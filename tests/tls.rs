//! TLS from `[ssl]`, driven through the `api` example as real processes with
//! certificates made at run time: mutual TLS, bad files at start, and a SIGHUP that
//! re-reads the files (a bad one refused, the old one kept).

mod support;

use std::path::Path;

use support::tls::{Authority, get, write};
use support::{Service, Signal, Stdout, exit_code};

const API: &str = env!("CARGO_BIN_EXE_api");

fn config(ssl: &str, workers: usize) -> String {
    format!("[DEFAULT]\n[api]\nport = 0\nworkers = {workers}\n\n[ssl]\n{ssl}\n")
}

fn start(ssl: &str, workers: usize) -> (Service, u16) {
    support::start_listening(API, &config(ssl, workers))
}

/// Server certificate and key files from `authority`, plus the `[ssl]` lines naming them.
fn server_files(dir: &Path, authority: &Authority) -> String {
    let server = authority.issue("api server");
    let cert = write(dir, "server.pem", &server.cert_pem);
    let key = write(dir, "server.key", &server.key_pem);
    format!(
        "cert_file = {}\nkey_file = {}\n",
        cert.display(),
        key.display()
    )
}

#[test]
fn serves_tls_and_with_ca_file_only_clients_it_signed() {
    let dir = tempfile::tempdir().unwrap();
    let authority = Authority::new("test CA");
    let ca = write(dir.path(), "ca.pem", &authority.pem());
    let ssl = format!(
        "{}ca_file = {}\n",
        server_files(dir.path(), &authority),
        ca.display()
    );
    let (_service, port) = start(&ssl, 2);

    let client = authority.issue("a client");
    let answer = get(port, "/", &authority.pem(), Some(&client)).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(answer.contains("\"CURRENT\""), "{answer}");

    // No certificate, or one another authority signed: no answer.
    let refused = get(port, "/", &authority.pem(), None);
    assert!(refused.is_err(), "{refused:?}");
    let stranger = Authority::new("another CA").issue("a stranger");
    let refused = get(port, "/", &authority.pem(), Some(&stranger));
    assert!(refused.is_err(), "{refused:?}");
}

#[test]
fn without_ca_file_any_client_is_served_and_plain_http_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let authority = Authority::new("test CA");
    let (_service, port) = start(&server_files(dir.path(), &authority), 1);
    let answer = get(port, "/v1/whoami", &authority.pem(), None).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    // A client speaking plain HTTP to the TLS port gets no HTTP answer.
    let plain = support::http::get(port, "/");
    assert!(plain.is_err(), "{plain:?}");
}

#[test]
fn bad_ssl_files_stop_the_start_with_oslo_messages() {
    let dir = tempfile::tempdir().unwrap();
    let authority = Authority::new("test CA");
    let good = authority.issue("api server");
    let key = write(dir.path(), "server.key", &good.key_pem);
    let missing = dir.path().join("missing.pem");

    Service::expect_start_refused(
        API,
        &config(
            &format!(
                "cert_file = {}\nkey_file = {}\n",
                missing.display(),
                key.display()
            ),
            1,
        ),
        &format!(
            "7: invalid value '{0}' for option cert_file in group [ssl]: Unable to find cert_file : {0}",
            missing.display()
        ),
    );

    let garbage = write(dir.path(), "garbage.pem", "not a certificate\n");
    Service::expect_start_refused(
        API,
        &config(
            &format!(
                "cert_file = {}\nkey_file = {}\n",
                garbage.display(),
                key.display()
            ),
            1,
        ),
        &format!(
            "7: invalid value '{}' for option cert_file in group [ssl]: it holds no PEM certificate",
            garbage.display()
        ),
    );

    let cert = write(dir.path(), "server.pem", &good.cert_pem);
    let mut service = Service::start(
        API,
        &config(&format!("cert_file = {}\n", cert.display()), 1),
        Stdout::Null,
    );
    assert_eq!(exit_code(service.wait_exit()), 1, "{}", service.log());
    assert!(
        service.log().contains("invalid options in group [ssl]: When running server in SSL mode, you must specify both a cert_file and key_file option value in your configuration file"),
        "{}",
        service.log()
    );

    Service::expect_start_refused(
        API,
        &config(
            &format!(
                "cert_file = {}\nkey_file = {}\nciphers = MEDIUM:!HIGH\n",
                cert.display(),
                key.display()
            ),
            1,
        ),
        "9: invalid value 'MEDIUM:!HIGH' for option ciphers in group [ssl]: it leaves none of the TLS 1.2 suites offered",
    );
}

/// Cipher lists and versions as deployment guides and oslo's docs write them start the
/// server: the list read as OpenSSL reads it, an old version taken as TLS 1.2 at least.
#[test]
fn openssl_cipher_strings_and_old_versions_as_deployments_write_them() {
    let dir = tempfile::tempdir().unwrap();
    let authority = Authority::new("test CA");
    let ssl = server_files(dir.path(), &authority);
    let config = format!(
        "[DEFAULT]\ndebug = true\n[api]\nport = 0\nworkers = 1\n\n[ssl]\n{ssl}version = TLSv1\nciphers = HIGH:!aNULL:!MD5\n"
    );
    let (service, port) = support::start_listening(API, &config);
    assert!(
        get(port, "/", &authority.pem(), None)
            .unwrap()
            .starts_with("HTTP/1.1 200")
    );
    let log = service.log();
    assert!(log.contains("older than TLS 1.2"), "{log}");
    assert!(
        log.contains("TLS cipher suites offered")
            && log.contains("TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"),
        "{log}"
    );
}

#[test]
fn sighup_rereads_the_certificate_and_refuses_a_bad_one() {
    let dir = tempfile::tempdir().unwrap();
    let first = Authority::new("first CA");
    let ssl = server_files(dir.path(), &first);
    let (service, port) = start(&ssl, 2);
    assert!(
        get(port, "/", &first.pem(), None)
            .unwrap()
            .starts_with("HTTP/1.1 200")
    );

    // A certificate file that no longer loads: the reload is refused, the workers and
    // their certificate stay.
    let workers = service.children();
    write(
        dir.path(),
        "server.pem",
        "-----BEGIN CERTIFICATE-----\nbroken\n",
    );
    service.signal(Signal::HUP);
    service.wait_log_line(&[
        "reload refused, keeping the running configuration",
        "cert_file",
    ]);
    assert_eq!(service.children(), workers);
    assert!(
        get(port, "/", &first.pem(), None)
            .unwrap()
            .starts_with("HTTP/1.1 200")
    );

    // A new certificate from another authority: served after the next SIGHUP.
    let second = Authority::new("second CA");
    server_files(dir.path(), &second);
    service.signal(Signal::HUP);
    service.expect_notify("RELOADING=1");
    service.expect_notify("READY=1");
    support::wait_until("the new certificate is served", || {
        get(port, "/", &second.pem(), None).is_ok_and(|answer| answer.starts_with("HTTP/1.1 200"))
    });
    assert!(get(port, "/", &first.pem(), None).is_err());
}

#[test]
fn a_client_that_never_finishes_its_handshake_is_cut() {
    let dir = tempfile::tempdir().unwrap();
    let authority = Authority::new("test CA");
    let ssl = server_files(dir.path(), &authority);
    let config = format!(
        "[DEFAULT]\nclient_socket_timeout = 2\nclient_header_timeout = 1\n[api]\nport = 0\nworkers = 1\n\n[ssl]\n{ssl}"
    );
    let (service, port) = support::start_listening(API, &config);
    // The first bytes of a ClientHello (a record header that announces 255 bytes), then
    // nothing: cut at client_header_timeout.
    let mut stalled = support::http::Connection::open(port).unwrap();
    stalled.send(b"\x16\x03\x01\x00\xff\x01").unwrap();
    assert!(stalled.closed_within(std::time::Duration::from_secs(20)));
    service.wait_log_line(&["client connection cut", "cause=\"tls_handshake\""]);
    // Connected, and silent: no ClientHello ever comes; cut as idle, and it never cost
    // a handshake's state.
    let mut silent = support::http::Connection::open(port).unwrap();
    assert!(silent.closed_within(std::time::Duration::from_secs(20)));
    service.wait_log_line(&["client connection cut", "cause=\"idle\""]);
    // Others are still served.
    assert!(
        get(port, "/", &authority.pem(), None)
            .unwrap()
            .starts_with("HTTP/1.1 200")
    );
}
