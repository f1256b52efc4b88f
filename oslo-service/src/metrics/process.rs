//! The process's own figures, read from `/proc` at each scrape under the names every
//! Prometheus client uses (`process_cpu_seconds_total`, `process_resident_memory_bytes`…),
//! so that the dashboards written for them work unchanged.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Unit;

/// Reads `/proc/self` when encoded.
#[derive(Debug)]
pub(super) struct ProcessCollector;

/// What `/proc` says of this process.
#[derive(Debug, Default, PartialEq)]
struct Figures {
    cpu_seconds: f64,
    resident_bytes: i64,
    start_time_seconds: f64,
    open_fds: i64,
    max_fds: i64,
}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        // A figure `/proc` does not give (another system, a hidden mount) is left out.
        let Some(figures) = read() else {
            return Ok(());
        };
        let cpu = ConstCounter::new(figures.cpu_seconds);
        cpu.encode(encoder.encode_descriptor(
            "process_cpu",
            "User and system CPU time spent.",
            Some(&Unit::Seconds),
            cpu.metric_type(),
        )?)?;
        let gauges = [
            (
                "process_resident_memory",
                "Resident memory size.",
                Some(Unit::Bytes),
                figures.resident_bytes as f64,
            ),
            (
                "process_start_time",
                "Start time of the process since the Unix epoch.",
                Some(Unit::Seconds),
                figures.start_time_seconds,
            ),
            (
                "process_open_fds",
                "Open file descriptors.",
                None,
                figures.open_fds as f64,
            ),
            (
                "process_max_fds",
                "The limit of open file descriptors.",
                None,
                figures.max_fds as f64,
            ),
        ];
        for (name, help, unit, value) in gauges {
            let gauge = ConstGauge::new(value);
            gauge.encode(encoder.encode_descriptor(
                name,
                help,
                unit.as_ref(),
                gauge.metric_type(),
            )?)?;
        }
        Ok(())
    }
}

fn read() -> Option<Figures> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let boot = std::fs::read_to_string("/proc/stat").ok()?;
    let mut figures = parse(&stat, &boot)?;
    figures.open_fds = std::fs::read_dir("/proc/self/fd")
        .ok()?
        .count()
        .try_into()
        .unwrap_or(i64::MAX);
    figures.max_fds = rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .current
        .map_or(i64::MAX, |limit| i64::try_from(limit).unwrap_or(i64::MAX));
    Some(figures)
}

/// The figures of `/proc/self/stat` and the boot time of `/proc/stat`, converted with
/// the kernel's clock tick and page size.
fn parse(stat: &str, boot: &str) -> Option<Figures> {
    let ticks = rustix::param::clock_ticks_per_second() as f64;
    let page = rustix::param::page_size() as i64;
    // The command name, in parentheses, may hold spaces and parentheses: the fields
    // that follow start after the last ')'.
    let fields: Vec<&str> = stat
        .get(stat.rfind(')')? + 1..)?
        .split_whitespace()
        .collect();
    // Field n of proc(5) is at n - 3 here.
    let number = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    let booted: u64 = boot
        .lines()
        .find_map(|line| line.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()?;
    let rss_pages = i64::try_from(number(24)?).unwrap_or(i64::MAX);
    Some(Figures {
        cpu_seconds: number(14)?.saturating_add(number(15)?) as f64 / ticks,
        resident_bytes: rss_pages.saturating_mul(page),
        start_time_seconds: booted as f64 + number(22)? as f64 / ticks,
        open_fds: 0,
        max_fds: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fields_after_a_command_name_with_spaces_and_parentheses() {
        let ticks = rustix::param::clock_ticks_per_second() as f64;
        let page = rustix::param::page_size() as i64;
        let stat = "4242 (my (odd) cmd) S 1 4242 4242 0 -1 4194560 500 0 0 0 \
                    250 50 0 0 20 0 3 0 1000 123456789 300 18446744073709551615";
        let figures = parse(stat, "cpu 1 2 3\nbtime 1700000000\n").unwrap();
        assert_eq!(figures.cpu_seconds, 300.0 / ticks);
        assert_eq!(figures.resident_bytes, 300 * page);
        assert_eq!(figures.start_time_seconds, 1_700_000_000.0 + 1000.0 / ticks);
        assert!(parse("4242 (cut", "btime 1").is_none());
        assert!(parse(stat, "no boot time here").is_none());
    }

    #[test]
    fn this_process_reads_itself() {
        let figures = read().unwrap();
        assert!(figures.resident_bytes > 0);
        assert!(figures.open_fds > 0 && figures.open_fds <= figures.max_fds);
        assert!(figures.start_time_seconds > 1.0e9);
    }
}
