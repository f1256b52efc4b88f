//! Each worker's resident memory, as its parent reads it from `/proc/PID/statm` every
//! second for `max_worker_memory`: from outside, so that a worker stuck in a loop or a
//! blocking call is measured all the same.

use std::io::Read;

use super::Supervisor;

/// How often the workers are measured.
pub(super) const EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// The most pages a count is taken as (4 PiB of 4 KiB pages): what the kernel writes is
/// bounded before it is multiplied.
const MAX_PAGES: u64 = 1 << 40;

/// The largest page size taken (1 GiB, the largest huge page).
const MAX_PAGE_SIZE: u64 = 1 << 30;

impl Supervisor {
    /// Measures every worker not already leaving, and has those past
    /// `max_worker_memory` replaced.
    pub(super) fn check_memory(&mut self) {
        let Some(limit) = self.options.max_memory else {
            return;
        };
        let page_size = u64::try_from(rustix::param::page_size()).unwrap_or(4096);
        let state = self.phase.state();
        for pid in self.pool.to_measure() {
            // A worker gone meanwhile is reaped on its own.
            let Some(rss) = resident_bytes(pid, page_size) else {
                continue;
            };
            // The loop starts the replacement once this returns.
            self.pool.measured(pid, rss, limit, state);
        }
    }
}

/// Worker `pid`'s resident set in bytes, or `None` when it is gone or unreadable.
fn resident_bytes(pid: i32, page_size: u64) -> Option<u64> {
    let file = std::fs::File::open(format!("/proc/{pid}/statm")).ok()?;
    // Seven numbers: a few dozen bytes at most.
    let mut text = String::new();
    file.take(256).read_to_string(&mut text).ok()?;
    resident_of(&text, page_size)
}

/// The second field of `statm`, resident pages, in bytes.
fn resident_of(statm: &str, page_size: u64) -> Option<u64> {
    let pages: u64 = statm.split_ascii_whitespace().nth(1)?.parse().ok()?;
    Some(pages.min(MAX_PAGES) * page_size.min(MAX_PAGE_SIZE))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resident_pages_are_bounded_before_they_are_multiplied() {
        assert_eq!(
            resident_of("1000 250 30 1 0 200 0\n", 4096),
            Some(250 * 4096)
        );
        assert_eq!(
            resident_of("1 18446744073709551615 0", 4096),
            Some(MAX_PAGES * 4096)
        );
        assert_eq!(resident_of("1 2 3", u64::MAX), Some(2 * MAX_PAGE_SIZE));
        for statm in ["", "1000", "1000 x 3", "1000 -1 3"] {
            assert_eq!(resident_of(statm, 4096), None, "{statm}");
        }
    }

    #[test]
    fn this_process_has_a_resident_set() {
        let pid = i32::try_from(std::process::id()).unwrap();
        assert!(resident_bytes(pid, 4096).is_some_and(|rss| rss > 0));
        assert_eq!(resident_bytes(i32::MAX, 4096), None);
    }
}
