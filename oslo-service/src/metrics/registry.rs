//! The registry of one process: the framework's families, the process's own figures,
//! and what the program registers.

use std::collections::HashSet;
use std::sync::{LazyLock, Mutex, MutexGuard, PoisonError};

use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Metric, Registry, Unit};

use super::families::{Families, Role};
use super::model::{self, MetricFamily};
use super::process::ProcessCollector;

/// What the framework records in this process; recorded whether or not anything
/// scrapes it.
pub(super) static FAMILIES: LazyLock<Families> = LazyLock::new(Families::default);

/// The registry, and the names registered in it.
struct Process {
    registry: Registry,
    names: HashSet<String>,
}

static PROCESS: LazyLock<Mutex<Process>> = LazyLock::new(|| {
    let mut registry = Registry::default();
    FAMILIES.register(&mut registry);
    registry.register_collector(Box::new(ProcessCollector));
    Mutex::new(Process {
        registry,
        names: HashSet::new(),
    })
});

fn process() -> MutexGuard<'static, Process> {
    PROCESS.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Why a metric was not registered.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum MetricsError {
    /// The name is not a Prometheus metric name.
    #[error("'{0}' is not a metric name: letters, digits, '_' and ':', not starting with a digit")]
    InvalidName(String),
    /// The name starts with a prefix the framework's own metrics use.
    #[error("'{0}' starts with 'oslo_' or 'process_', which the framework's own metrics use")]
    Reserved(String),
    /// A metric of that name was registered before in this process.
    #[error("a metric named '{0}' is already registered")]
    Duplicate(String),
    /// A counter's name that ends in `_total`, which the exposition adds itself.
    #[error("'{0}' ends in '_total', which the exposition adds to a counter's name")]
    TotalSuffix(String),
    /// A unit that is not made of a name's characters.
    #[error("'{0}' is not a unit: letters, digits and '_'")]
    InvalidUnit(String),
}

/// Registers `metric` under `name` in this process's registry, so that the host's
/// scrape shows it (for each worker, labelled with its service and index). A
/// counter's name takes no `_total`: the exposition adds it.
///
/// ```
/// use oslo::metrics::prometheus_client::metrics::{counter::Counter, family::Family};
///
/// let by_kind = Family::<Vec<(String, String)>, Counter>::default();
/// oslo::metrics::register("shop_orders", "Orders taken, by kind", by_kind.clone()).unwrap();
/// by_kind.get_or_create(&vec![("kind".into(), "express".into())]).inc();
/// ```
pub fn register(name: &str, help: &str, metric: impl Metric) -> Result<(), MetricsError> {
    let mut process = process();
    claim(&mut process, name, None, metric.metric_type())?;
    process.registry.register(name, help, metric);
    Ok(())
}

/// [`register`] with a unit, which the name takes as its suffix: a histogram
/// `request_latency` in [`Unit::Seconds`] is exposed as `request_latency_seconds`.
///
/// ```
/// use oslo::metrics::prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
/// use oslo::metrics::prometheus_client::registry::Unit;
///
/// let latency = Histogram::new(exponential_buckets(0.001, 2.0, 12));
/// oslo::metrics::register_with_unit("shop_checkout", "Checkout time", Unit::Seconds, latency.clone())
///     .unwrap();
/// latency.observe(0.042);
/// ```
pub fn register_with_unit(
    name: &str,
    help: &str,
    unit: Unit,
    metric: impl Metric,
) -> Result<(), MetricsError> {
    let mut process = process();
    claim(&mut process, name, Some(&unit), metric.metric_type())?;
    process
        .registry
        .register_with_unit(name, help, unit, metric);
    Ok(())
}

/// Checks `name` (and `unit`) of a metric of type `kind`, and marks it taken.
fn claim(
    process: &mut Process,
    name: &str,
    unit: Option<&Unit>,
    kind: MetricType,
) -> Result<(), MetricsError> {
    let valid = name.chars().enumerate().all(|(i, c)| {
        c.is_ascii_alphabetic() || c == '_' || c == ':' || (i > 0 && c.is_ascii_digit())
    });
    if name.is_empty() || !valid {
        return Err(MetricsError::InvalidName(name.to_owned()));
    }
    if name.starts_with("oslo_") || name.starts_with("process_") {
        return Err(MetricsError::Reserved(name.to_owned()));
    }
    if kind == MetricType::Counter && name.ends_with("_total") {
        return Err(MetricsError::TotalSuffix(name.to_owned()));
    }
    if let Some(unit) = unit.map(Unit::as_str) {
        if unit.is_empty() || !unit.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(MetricsError::InvalidUnit(unit.to_owned()));
        }
    }
    let full = match unit {
        Some(unit) => format!("{name}_{}", unit.as_str()),
        None => name.to_owned(),
    };
    if !process.names.insert(full) {
        return Err(MetricsError::Duplicate(name.to_owned()));
    }
    Ok(())
}

/// This process's families, in the data model, as `role` shows them.
pub(super) fn families(role: Role) -> Vec<MetricFamily> {
    let mut families = model::families(&process().registry);
    families.retain(|family| role.shows(&family.name));
    families
}

/// This process's families, as bytes for its parent.
pub(super) fn encoded() -> Vec<u8> {
    model::to_bytes(families(Role::Worker))
}

#[cfg(test)]
mod tests {
    use prometheus_client::metrics::counter::Counter;

    use super::*;

    #[test]
    fn names_are_checked_before_they_are_taken() {
        let counter = Counter::<u64>::default();
        assert_eq!(
            register("9lives", "", counter.clone()),
            Err(MetricsError::InvalidName("9lives".into()))
        );
        assert_eq!(
            register("with space", "", counter.clone()),
            Err(MetricsError::InvalidName("with space".into()))
        );
        assert_eq!(
            register("oslo_mine", "", counter.clone()),
            Err(MetricsError::Reserved("oslo_mine".into()))
        );
        assert_eq!(
            register("registry_test_items_total", "", counter.clone()),
            Err(MetricsError::TotalSuffix(
                "registry_test_items_total".into()
            ))
        );
        assert_eq!(
            register_with_unit(
                "registry_test_odd",
                "",
                Unit::Other("a b".into()),
                counter.clone()
            ),
            Err(MetricsError::InvalidUnit("a b".into()))
        );
        assert_eq!(
            register("registry_test_items", "Items", counter.clone()),
            Ok(())
        );
        assert_eq!(
            register("registry_test_items", "Again", counter.clone()),
            Err(MetricsError::Duplicate("registry_test_items".into()))
        );
        counter.inc();
        let family = families(Role::Alone)
            .into_iter()
            .find(|f| f.name == "registry_test_items_total")
            .unwrap();
        assert_eq!(family.metric[0].counter.as_ref().unwrap().value, 1.0);
    }
}
