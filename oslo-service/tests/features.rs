//! The wings a service may leave out: built with `default-features = false`,
//! oslo-service depends on none of the HTTP, TLS and etcd crates; each feature brings
//! its own. Read from cargo's own resolution of this workspace (`cargo tree`).

use std::collections::BTreeSet;
use std::process::Command;

/// The crates oslo-service depends on (normal dependencies, every depth) with
/// `features`, after `--no-default-features`.
fn dependencies(features: &str) -> BTreeSet<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = Command::new(cargo)
        .args([
            "tree",
            "--package",
            "oslo-service",
            "--no-default-features",
            "--features",
            features,
            "--edges",
            "normal",
            "--prefix",
            "none",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo runs");
    assert!(
        output.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

const HTTP: &[&str] = &[
    "hyper",
    "http",
    "http-body",
    "tower-service",
    "tower-layer",
    "h2",
];
const TLS: &[&str] = &["rustls", "tokio-rustls", "ring"];
const ETCD: &[&str] = &["base64", "hyper"];
const METRICS: &[&str] = &["prometheus-client", "prost"];
const GRPC: &[&str] = &["tonic", "tonic-health"];

fn assert_without(deps: &BTreeSet<String>, crates: &[&str], features: &str) {
    let present: Vec<&&str> = crates.iter().filter(|c| deps.contains(**c)).collect();
    assert!(
        present.is_empty(),
        "with features [{features}] oslo-service depends on {present:?}"
    );
}

fn assert_with(deps: &BTreeSet<String>, crates: &[&str], features: &str) {
    let missing: Vec<&&str> = crates.iter().filter(|c| !deps.contains(**c)).collect();
    assert!(
        missing.is_empty(),
        "with features [{features}] oslo-service lacks {missing:?}"
    );
}

#[test]
fn the_minimal_build_has_no_http_tls_or_etcd_crate() {
    let deps = dependencies("");
    assert!(deps.contains("tokio"), "{deps:?}");
    assert_without(&deps, HTTP, "");
    assert_without(&deps, TLS, "");
    assert_without(&deps, ETCD, "");
    assert_without(&deps, METRICS, "");
    assert_without(&deps, GRPC, "");
}

#[test]
fn the_default_build_has_no_tonic() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = Command::new(cargo)
        .args([
            "tree",
            "--package",
            "oslo-service",
            "--edges",
            "normal",
            "--prefix",
            "none",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo runs");
    assert!(output.status.success(), "cargo tree failed");
    let deps = String::from_utf8_lossy(&output.stdout);
    let present: Vec<&str> = deps
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| GRPC.contains(name))
        .collect();
    assert!(present.is_empty(), "the default features bring {present:?}");
}

#[test]
fn each_feature_brings_its_own_crates_only() {
    let http = dependencies("http");
    assert_with(&http, HTTP, "http");
    assert_without(&http, TLS, "http");
    assert!(!http.contains("base64"), "http alone needs no base64");

    let tls = dependencies("http,tls");
    assert_with(&tls, TLS, "http,tls");

    let coordination = dependencies("coordination");
    assert_with(&coordination, ETCD, "coordination");
    assert_without(&coordination, TLS, "coordination");
    assert!(!coordination.contains("tower-service"), "{coordination:?}");
    // The etcd client speaks HTTP/1.1 only: HTTP/2 comes with the server.
    assert!(!coordination.contains("h2"), "{coordination:?}");

    let console = dependencies("console");
    assert_without(&console, HTTP, "console");
    assert_without(&console, TLS, "console");

    // The endpoint is hyper's HTTP/1 server: not the HTTP server's tower stack, nor
    // HTTP/2.
    let metrics = dependencies("metrics");
    assert_with(&metrics, METRICS, "metrics");
    assert_with(
        &metrics,
        &["hyper", "hyper-util", "http-body-util"],
        "metrics",
    );
    for absent in ["tower-service", "tower-layer", "h2"] {
        assert!(
            !metrics.contains(absent),
            "metrics brings {absent}: {metrics:?}"
        );
    }
    assert_without(&metrics, TLS, "metrics");
    assert_without(&http, METRICS, "http");
    assert_without(&http, GRPC, "http");
    assert_without(&metrics, GRPC, "metrics");

    let grpc = dependencies("grpc");
    assert_with(&grpc, GRPC, "grpc");
    assert_with(&grpc, HTTP, "grpc");
    assert_without(&grpc, TLS, "grpc");
    // prost comes with tonic; the metrics' own crate does not.
    assert!(!grpc.contains("prometheus-client"), "{grpc:?}");

    // Traces: prost's messages and hyper's client, no SDK, no tonic, no server.
    let otel = dependencies("otel");
    assert_with(&otel, &["prost", "hyper"], "otel");
    assert_without(&otel, GRPC, "otel");
    assert_without(&otel, TLS, "otel");
    for absent in ["prometheus-client", "tower-service", "h2", "opentelemetry"] {
        assert!(!otel.contains(absent), "otel brings {absent}: {otel:?}");
    }
}
