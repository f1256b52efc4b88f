//! The claims of cluster-scoped periodic tasks: each run is recorded in etcd as the
//! runner of its period, by the first host to ask, while its membership stands. A
//! worker process asks its parent, which claims on its own membership.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::groups::member_key;
use super::{CoordinationError, Coordinator, PREFIX, current};
use crate::future::BoxFuture;

/// How long a worker waits for its parent's answer to a claim: a parent that does not
/// answer (frozen, say) must not hold the worker's periodic tasks for good.
const PARENT_ANSWER: Duration = Duration::from_secs(5);

/// How a worker process asks its parent, its host's member, to claim a period for it
/// (over their control socket; the launcher provides it).
pub(crate) trait AskParent: Send + Sync + std::fmt::Debug {
    /// What [`Coordinator::claim`] answers in the parent, or why it could not.
    fn claim<'a>(
        &'a self,
        task: &'a str,
        every: Duration,
    ) -> BoxFuture<'a, Result<Option<u64>, String>>;
}

impl Coordinator {
    /// Claims the current period of task `task`, which runs every `every`, for this
    /// host: `Some(period)` when this host is the first to ask for it, `None` when
    /// another host has it. Periods are counted from the Unix epoch (see
    /// [`claimed_period`]); etcd grants a claim only while this host's membership
    /// stands. Cluster-scoped periodic tasks claim each run this way; a program may
    /// claim work of its own.
    pub async fn claim(
        &self,
        task: &str,
        every: Duration,
    ) -> Result<Option<u64>, CoordinationError> {
        let inner = &self.inner;
        // A worker asks its parent, the host's member, to claim for it.
        if let Some(parent) = &inner.parent {
            return tokio::time::timeout(PARENT_ANSWER, parent.claim(task, every))
                .await
                .unwrap_or_else(|_| Err("the parent did not answer in time".to_owned()))
                .map_err(CoordinationError::Parent);
        }
        // Fencing: this process checks its lease first, etcd checks it in the claim.
        let lease = self.valid_lease()?;
        let member_key = member_key(&inner.group, &inner.member);
        let period = period_of(SystemTime::now(), every);
        let key = format!(
            "{PREFIX}/tasks/{}/{}",
            super::escape(&inner.group),
            super::escape(task)
        );
        let value = format!("{period:020} {}", inner.member);
        let claimed = inner
            .etcd
            .advance(&member_key, lease, &key, &value, &format!("{period:020}"))
            .await
            .inspect_err(|err| {
                crate::metrics::claimed("failed");
                inner.report_outage(err);
            })?;
        crate::metrics::claimed(if claimed { "won" } else { "lost" });
        inner.report_recovery();
        // Fencing: a lease that expired during the call no longer counts.
        self.valid_lease()?;
        Ok(claimed.then_some(period))
    }
}

/// The period `now` falls in, for a task that runs `every` so long: the nearest
/// multiple of `every` since the epoch, so that hosts whose schedules are out of phase
/// still name each period alike, and one host's runs, `every` apart, name consecutive
/// periods.
fn period_of(now: SystemTime, every: Duration) -> u64 {
    let since = now
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    let every = every.as_millis().max(1);
    u64::try_from((since + every / 2) / every).unwrap_or(u64::MAX)
}

/// Whether a cluster task runs now on this host: `Ok(None)` without coordination (the
/// task is then local), `Ok(Some(period))` when this host claimed the period, `Err`
/// with why not otherwise.
pub(crate) async fn may_run_cluster_task(
    task: &str,
    every: Duration,
) -> Result<Option<u64>, String> {
    let Some(coordinator) = current() else {
        return Ok(None);
    };
    match coordinator.claim(task, every).await {
        Ok(Some(period)) => {
            tracing::debug!(task, period, "cluster task claimed");
            Ok(Some(period))
        }
        Ok(None) => Err("another member runs this period".to_owned()),
        Err(err) => Err(err.to_string()),
    }
}

tokio::task_local! {
    static CLAIMED: u64;
}

/// Runs `run` (a cluster task's run) with `period` as its [`claimed_period`].
pub(crate) async fn with_claimed_period<F: std::future::Future>(
    period: Option<u64>,
    run: F,
) -> F::Output {
    match period {
        Some(period) => CLAIMED.scope(period, run).await,
        None => run.await,
    }
}

/// Inside a cluster-scoped periodic task, the period this run claimed: the number of
/// `spacing`s since the Unix epoch (rounded to the nearest), the same on every host.
/// One period runs once in the cluster, so it makes a good idempotency key. `None`
/// outside a cluster task, or when coordination is not configured.
///
/// ```
/// assert_eq!(oslo::coordination::claimed_period(), None);
/// ```
pub fn claimed_period() -> Option<u64> {
    CLAIMED.try_with(|period| *period).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_out_of_phase_name_periods_alike() {
        let at = |ms: u64| UNIX_EPOCH + Duration::from_millis(ms);
        let every = Duration::from_secs(10);
        assert_eq!(period_of(at(100_000), every), 10);
        assert_eq!(period_of(at(104_900), every), 10);
        assert_eq!(period_of(at(95_100), every), 10);
        // One host's runs, `every` apart, whatever its phase: consecutive periods.
        for phase in [0, 2_500, 4_999, 5_001, 9_999] {
            let periods: Vec<u64> = (0..5)
                .map(|k| period_of(at(1_000_000 + phase + k * 10_000), every))
                .collect();
            assert!(
                periods.windows(2).all(|w| w[1] == w[0] + 1),
                "{phase}: {periods:?}"
            );
        }
    }
}
