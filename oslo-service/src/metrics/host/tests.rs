use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;

use super::*;
use crate::metrics::model;

/// The families of a process that counted `requests` and observed `latencies`.
fn process(requests: u64, latencies: &[f64], in_flight: i64) -> Vec<MetricFamily> {
    let mut registry = Registry::default();
    let counted = Family::<Vec<(String, String)>, Counter>::default();
    counted
        .get_or_create(&vec![("status".into(), "2xx".into())])
        .inc_by(requests);
    registry.register("requests", "Requests", counted);
    let histogram = Histogram::new([0.1, 1.0]);
    for latency in latencies {
        histogram.observe(*latency);
    }
    registry.register_with_unit("latency", "Latency", Unit::Seconds, histogram);
    let gauge = Gauge::<i64>::default();
    gauge.set(in_flight);
    registry.register("in_flight", "In flight", gauge);
    let bytes = model::to_bytes(model::families(&registry));
    model::from_bytes(&bytes).unwrap()
}

fn worker(index: &str, families: Vec<MetricFamily>) -> Part {
    Part {
        labels: vec![("worker".into(), index.into())],
        families,
    }
}

#[test]
fn one_family_per_name_with_each_workers_samples() {
    let text = text(
        merge(vec![
            worker("0", process(3, &[0.05], 1)),
            worker("1", process(5, &[0.5, 2.0], 2)),
        ]),
        Format::OpenMetrics,
    );
    let expected = "\
# HELP requests Requests.
# TYPE requests counter
requests_total{worker=\"0\",status=\"2xx\"} 3
requests_total{worker=\"1\",status=\"2xx\"} 5
# HELP latency_seconds Latency.
# TYPE latency_seconds histogram
# UNIT latency_seconds seconds
latency_seconds_sum{worker=\"0\"} 0.05
latency_seconds_count{worker=\"0\"} 1
latency_seconds_bucket{le=\"0.1\",worker=\"0\"} 1
latency_seconds_bucket{le=\"1.0\",worker=\"0\"} 1
latency_seconds_bucket{le=\"+Inf\",worker=\"0\"} 1
latency_seconds_sum{worker=\"1\"} 2.5
latency_seconds_count{worker=\"1\"} 2
latency_seconds_bucket{le=\"0.1\",worker=\"1\"} 0
latency_seconds_bucket{le=\"1.0\",worker=\"1\"} 1
latency_seconds_bucket{le=\"+Inf\",worker=\"1\"} 2
# HELP in_flight In flight.
# TYPE in_flight gauge
in_flight{worker=\"0\"} 1
in_flight{worker=\"1\"} 2
# EOF
";
    assert_eq!(text, expected);
}

#[test]
fn a_gone_workers_counters_stay_in_its_slot_and_its_gauges_go() {
    let mut slot = process(2, &[0.05], 4);
    fold(&mut slot, &process(10, &[0.5, 0.5], 7));
    let text = text(merge(vec![worker("0", slot)]), Format::OpenMetrics);
    assert!(
        text.contains("requests_total{worker=\"0\",status=\"2xx\"} 12\n"),
        "{text}"
    );
    assert!(
        text.contains("latency_seconds_count{worker=\"0\"} 3\n"),
        "{text}"
    );
    assert!(
        text.contains("latency_seconds_bucket{le=\"0.1\",worker=\"0\"} 1\n"),
        "{text}"
    );
    assert!(
        text.contains("latency_seconds_bucket{le=\"1.0\",worker=\"0\"} 3\n"),
        "{text}"
    );
    assert!(text.contains("in_flight{worker=\"0\"} 4\n"), "{text}");

    // A slot that only a gone worker filled keeps its counters, and no gauge.
    let mut empty = Vec::new();
    fold(&mut empty, &process(10, &[], 7));
    let text = super::text(merge(vec![worker("1", empty)]), Format::OpenMetrics);
    assert!(
        text.contains("requests_total{worker=\"1\",status=\"2xx\"} 10\n"),
        "{text}"
    );
    assert!(!text.contains("in_flight{"), "{text}");
}

#[test]
fn a_help_text_on_several_lines_stays_on_one() {
    let mut registry = Registry::default();
    registry.register(
        "odd",
        "two\nlines, \"quoted\", back\\slash",
        Gauge::<i64>::default(),
    );
    let families = model::from_bytes(&model::to_bytes(model::families(&registry))).unwrap();
    let text = text(merge(vec![worker("0", families)]), Format::OpenMetrics);
    assert!(
        text.starts_with(
            "# HELP odd two\\nlines, \\\"quoted\\\", back\\\\slash.\n# TYPE odd gauge\n"
        ),
        "{text}"
    );
}

#[test]
fn a_gone_workers_huge_counts_add_up_without_overflowing() {
    let mut slot = process(1, &[0.05], 0);
    let mut huge = process(1, &[0.05], 0);
    for family in &mut huge {
        for metric in &mut family.metric {
            if let Some(histogram) = &mut metric.histogram {
                histogram.sample_count = u64::MAX;
                for bucket in &mut histogram.bucket {
                    bucket.cumulative_count = u64::MAX;
                }
            }
        }
    }
    fold(&mut slot, &huge);
    let text = text(merge(vec![worker("0", slot)]), Format::OpenMetrics);
    assert!(
        text.contains(&format!(
            "latency_seconds_count{{worker=\"0\"}} {}\n",
            u64::MAX
        )),
        "{text}"
    );
}

#[test]
fn a_family_of_another_type_under_a_known_name_is_left_out() {
    let mut registry = Registry::default();
    registry.register("in_flight", "Not a gauge here", Counter::<u64>::default());
    let odd = model::from_bytes(&model::to_bytes(model::families(&registry))).unwrap();
    let merged = merge(vec![worker("0", process(1, &[], 1)), worker("1", odd)]);
    let in_flight = merged
        .iter()
        .filter(|f| f.name.starts_with("in_flight"))
        .count();
    assert_eq!(in_flight, 1);
}

/// Families of every type, with values and texts to escape, as a worker sends them.
fn odd_process() -> Vec<MetricFamily> {
    let mut registry = Registry::default();
    let counted = Family::<Vec<(String, String)>, Counter>::default();
    counted
        .get_or_create(&vec![("path".into(), "a\"b\\c\nd".into())])
        .inc_by(2);
    registry.register(
        "odd_requests",
        "Two\nlines, \"quoted\", back\\slash",
        counted,
    );
    let seconds = Counter::<f64, std::sync::atomic::AtomicU64>::default();
    seconds.inc_by(1.5);
    registry.register_with_unit("busy", "Busy time", Unit::Seconds, seconds);
    let histogram = Histogram::new([0.1, 1.0, 2.5e6]);
    histogram.observe(0.05);
    histogram.observe(0.5);
    histogram.observe(7.0e6);
    registry.register_with_unit("latency", "Latency", Unit::Seconds, histogram);
    for (name, value) in [
        ("up", f64::INFINITY),
        ("down", f64::NEG_INFINITY),
        ("unknown", f64::NAN),
    ] {
        let gauge = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
        gauge.set(value);
        registry.register(name, "A gauge", gauge);
    }
    let mut families = model::from_bytes(&model::to_bytes(model::families(&registry))).unwrap();
    families.push(MetricFamily {
        name: "legacy".into(),
        help: "An untyped figure".into(),
        r#type: MetricType::Untyped as i32,
        metric: vec![Metric {
            untyped: Some(
                prometheus_client::encoding::prometheus_protobuf::prometheus_data_model::Untyped {
                    value: 3.25,
                },
            ),
            ..Metric::default()
        }],
        ..MetricFamily::default()
    });
    families
}

#[test]
fn the_text_format_0_0_4_as_prometheus_writes_it() {
    let text = text(merge(vec![worker("0", odd_process())]), Format::Text);
    let expected = "\
# HELP odd_requests_total Two\\nlines, \"quoted\", back\\\\slash.
# TYPE odd_requests_total counter
odd_requests_total{worker=\"0\",path=\"a\\\"b\\\\c\\nd\"} 2
# HELP busy_seconds_total Busy time.
# TYPE busy_seconds_total counter
busy_seconds_total{worker=\"0\"} 1.5
# HELP latency_seconds Latency.
# TYPE latency_seconds histogram
latency_seconds_bucket{worker=\"0\",le=\"0.1\"} 1
latency_seconds_bucket{worker=\"0\",le=\"1\"} 2
latency_seconds_bucket{worker=\"0\",le=\"2.5e+06\"} 2
latency_seconds_bucket{worker=\"0\",le=\"+Inf\"} 3
latency_seconds_sum{worker=\"0\"} 7000000.55
latency_seconds_count{worker=\"0\"} 3
# HELP up A gauge.
# TYPE up gauge
up{worker=\"0\"} +Inf
# HELP down A gauge.
# TYPE down gauge
down{worker=\"0\"} -Inf
# HELP unknown A gauge.
# TYPE unknown gauge
unknown{worker=\"0\"} NaN
# HELP legacy An untyped figure
# TYPE legacy untyped
legacy{worker=\"0\"} 3.25
";
    assert_eq!(text, expected);
}

#[test]
fn the_same_families_in_openmetrics_keep_its_own_marks() {
    let text = text(merge(vec![worker("0", odd_process())]), Format::OpenMetrics);
    // What 0.0.4 has none of: units, `# EOF`; and quotes escaped in a help text.
    assert!(text.contains("# UNIT latency_seconds seconds\n"), "{text}");
    assert!(text.ends_with("# EOF\n"), "{text}");
    assert!(
        text.contains("# HELP odd_requests Two\\nlines, \\\"quoted\\\", back\\\\slash.\n"),
        "{text}"
    );
}
