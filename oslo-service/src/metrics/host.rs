//! One exposition for a whole host out of the metric families of its processes: each
//! process's families (in the Prometheus data model, as prometheus-client encodes a
//! registry) get the labels that say which worker they come from, families of one
//! name are merged, and prometheus-client writes the text, OpenMetrics or the Prometheus
//! text format 0.0.4 as the scraper asked. Counters and histograms of
//! workers that are gone are folded into their slot's (`fold`), so that a host's
//! counters never go down when a worker is replaced.

use std::collections::HashMap;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType as Kind;
use prometheus_client::registry::{Registry, Unit};

use super::format::Format;
use super::model::{Bucket, LabelPair, Metric, MetricFamily, MetricType};

/// The families of one process, and the labels that say which process it is.
#[derive(Debug, Default)]
pub(crate) struct Part {
    pub(crate) labels: Vec<(String, String)>,
    pub(crate) families: Vec<MetricFamily>,
}

/// The families of every part, one family per name, each sample with its part's
/// labels first. A family whose type differs from the one first seen under its name
/// is left out.
pub(crate) fn merge(parts: Vec<Part>) -> Vec<MetricFamily> {
    let mut merged: Vec<MetricFamily> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for part in parts {
        let extra: Vec<LabelPair> = part
            .labels
            .iter()
            .map(|(name, value)| LabelPair {
                name: name.clone(),
                value: value.clone(),
            })
            .collect();
        for mut family in part.families {
            for metric in &mut family.metric {
                let own = std::mem::take(&mut metric.label);
                metric.label = extra.iter().cloned().chain(own).collect();
            }
            // Keyed by the name the text shows: a counter `x` (`x_total` in the data
            // model) and a gauge `x` would both be family `x` there.
            let Some((shown, _, _)) = descriptor(&family) else {
                continue;
            };
            match index.get(shown) {
                Some(&at) if merged[at].r#type == family.r#type => {
                    merged[at].metric.append(&mut family.metric);
                }
                Some(_) => {
                    tracing::debug!(family = %family.name, "a metric family of another type under the same name, left out");
                }
                None => {
                    index.insert(shown.to_owned(), merged.len());
                    merged.push(family);
                }
            }
        }
    }
    merged
}

/// Adds the counters and histograms of `gone` (a process that exited) to those of
/// `into`, sample by sample, matched by name and labels; a sample `into` lacks is
/// added. Gauges of a process that is gone mean nothing any more and are dropped.
pub(crate) fn fold(into: &mut Vec<MetricFamily>, gone: &[MetricFamily]) {
    for family in gone {
        let kind = family.r#type();
        if !matches!(kind, MetricType::Counter | MetricType::Histogram) {
            continue;
        }
        let at = match into.iter().position(|f| f.name == family.name) {
            Some(at) if into[at].r#type == family.r#type => at,
            Some(_) => continue,
            None => {
                into.push(MetricFamily {
                    metric: Vec::new(),
                    ..family.clone()
                });
                into.len() - 1
            }
        };
        let samples = &mut into[at].metric;
        for metric in &family.metric {
            match samples.iter_mut().find(|m| same_labels(m, metric)) {
                Some(sample) => add(sample, metric),
                None => samples.push(metric.clone()),
            }
        }
    }
}

fn same_labels(a: &Metric, b: &Metric) -> bool {
    a.label.len() == b.label.len()
        && a.label.iter().all(|l| {
            b.label
                .iter()
                .any(|m| m.name == l.name && m.value == l.value)
        })
}

fn add(sample: &mut Metric, gone: &Metric) {
    if let (Some(counter), Some(more)) = (&mut sample.counter, &gone.counter) {
        counter.value += more.value;
    }
    if let (Some(histogram), Some(more)) = (&mut sample.histogram, &gone.histogram) {
        // Numbers from another process: added without overflowing.
        histogram.sample_count = histogram.sample_count.saturating_add(more.sample_count);
        histogram.sample_sum += more.sample_sum;
        let same_bounds = histogram.bucket.len() == more.bucket.len()
            && histogram
                .bucket
                .iter()
                .zip(&more.bucket)
                .all(|(a, b)| a.upper_bound == b.upper_bound);
        if same_bounds {
            for (bucket, extra) in histogram.bucket.iter_mut().zip(&more.bucket) {
                bucket.cumulative_count = bucket
                    .cumulative_count
                    .saturating_add(extra.cumulative_count);
            }
        }
    }
}

/// The text exposition of `families` in `format`, as prometheus-client writes it.
pub(crate) fn text(families: Vec<MetricFamily>, format: Format) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Exposition { families, format }));
    let mut out = String::new();
    let encoded = match format {
        Format::OpenMetrics => prometheus_client::encoding::text::encode(&mut out, &registry),
        Format::Text => prometheus_client::encoding::prometheus_text::encode(&mut out, &registry),
    };
    // Writing into a String does not fail; an error would come from a sample this
    // module built, and the scrape then shows what was written before it.
    if let Err(err) = encoded {
        tracing::error!(error = %err, "cannot encode the metrics");
    }
    out
}

/// Families to write, as a collector: prometheus-client calls it with its encoder.
#[derive(Debug)]
struct Exposition {
    families: Vec<MetricFamily>,
    format: Format,
}

impl Collector for Exposition {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        for family in &self.families {
            let Some((name, unit, kind)) = descriptor(family) else {
                continue;
            };
            // The 0.0.4 encoder escapes a help text itself; the OpenMetrics one does not.
            let help = match self.format {
                Format::OpenMetrics => escaped_help(&family.help),
                Format::Text => family.help.as_str().into(),
            };
            let mut metrics = encoder.encode_descriptor(name, &help, unit.as_ref(), kind)?;
            for metric in &family.metric {
                let labels: Vec<(&str, &str)> = metric
                    .label
                    .iter()
                    .map(|l| (l.name.as_str(), l.value.as_str()))
                    .collect();
                let mut sample = metrics.encode_family(&labels)?;
                match kind {
                    Kind::Counter => {
                        let value = metric.counter.as_ref().map_or(0.0, |c| c.value);
                        // Whole numbers as integers, as the process that counted wrote them.
                        if value.fract() == 0.0 && (0.0..9.0e15).contains(&value) {
                            sample.encode_counter::<NoLabelSet, _, u64>(&(value as u64), None)?;
                        } else {
                            sample.encode_counter::<NoLabelSet, _, f64>(&value, None)?;
                        }
                    }
                    Kind::Histogram => {
                        let Some(histogram) = &metric.histogram else {
                            continue;
                        };
                        let buckets = per_bucket(&histogram.bucket);
                        sample.encode_histogram::<NoLabelSet>(
                            histogram.sample_sum,
                            histogram.sample_count,
                            &buckets,
                            None,
                        )?;
                    }
                    _ => {
                        let value = metric
                            .gauge
                            .as_ref()
                            .map(|g| g.value)
                            .or(metric.untyped.as_ref().map(|u| u.value))
                            .unwrap_or(0.0);
                        if value.fract() == 0.0 && value.abs() < 9.0e15 {
                            sample.encode_gauge(&(value as i64))?;
                        } else {
                            sample.encode_gauge(&value)?;
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

/// The name, unit and type to encode a family under. The Prometheus data model names
/// a family in full (`oslo_http_sent_bytes_total`); the text encoder adds the unit and
/// `_total` itself, so they come off here. Types prometheus-client does not write
/// (summaries, gauge histograms) are left out.
fn descriptor(family: &MetricFamily) -> Option<(&str, Option<Unit>, Kind)> {
    let kind = match family.r#type() {
        MetricType::Counter => Kind::Counter,
        MetricType::Gauge => Kind::Gauge,
        MetricType::Histogram => Kind::Histogram,
        MetricType::Untyped => Kind::Unknown,
        MetricType::Summary | MetricType::GaugeHistogram => return None,
    };
    let mut name = family.name.as_str();
    if kind == Kind::Counter {
        name = name.strip_suffix("_total").unwrap_or(name);
    }
    let unit = (!family.unit.is_empty()).then_some(family.unit.as_str());
    if let Some(unit) = unit {
        name = name
            .strip_suffix(unit)
            .and_then(|n| n.strip_suffix('_'))
            .unwrap_or(name);
    }
    Some((name, unit.map(|u| Unit::Other(u.to_owned())), kind))
}

/// `help` as OpenMetrics writes it: prometheus-client writes a help text as it is, and
/// a program's newline would end the line (and the scrape with it).
fn escaped_help(help: &str) -> std::borrow::Cow<'_, str> {
    if !help.contains(['\\', '\n', '"']) {
        return help.into();
    }
    help.replace('\\', "\\\\")
        .replace('\n', "\\n")
        .replace('"', "\\\"")
        .into()
}

/// The count of each bucket alone, out of the cumulative counts of the data model.
fn per_bucket(buckets: &[Bucket]) -> Vec<(f64, u64)> {
    let mut below = 0;
    buckets
        .iter()
        .map(|bucket| {
            let count = bucket.cumulative_count.saturating_sub(below);
            below = below.max(bucket.cumulative_count);
            (bucket.upper_bound, count)
        })
        .collect()
}

#[cfg(test)]
mod tests;
