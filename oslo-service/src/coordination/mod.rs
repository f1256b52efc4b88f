//! Coordination between the hosts of a service, on etcd v3 (tooz's model): a membership
//! kept alive by a leased heartbeat, groups and their members, leader election per
//! group, locks, a hash ring to share work items, and the claims that make a
//! cluster-scoped periodic task run on one host per period.
//!
//! The launcher starts it when `[coordination] backend_url` is set (joining the
//! service's group), leaves at stop (the lease is revoked, so leadership and locks pass
//! to the others at once) and follows a changed `backend_url` on SIGHUP. Under worker
//! processes the parent is the host's member and the only one to send heartbeats; a
//! worker asks the parent to claim its cluster-task runs, and takes a lease of its own
//! only when it takes a lock.
//!
//! Everything that acts for the cluster checks the lease first (fencing): a host whose
//! last heartbeat reached etcd more than `lease_ttl` ago, because etcd is down or the
//! process was stopped, does not run a cluster task, and etcd refuses its claims too.
//!
//! ```no_run
//! # async fn example() -> Result<(), oslo::coordination::CoordinationError> {
//! let Some(coordinator) = oslo::coordination::current() else {
//!     return Ok(()); // [coordination] backend_url is not set
//! };
//! let guard = coordinator.lock("purge").await?;
//! // ... work only one host may do at a time ...
//! if guard.is_lost() {
//!     tracing::warn!("lock lost while purging");
//! }
//! drop(guard); // released
//! let ring = coordinator.partitioner(coordinator.group()).await?;
//! if ring.belongs_to_self("volume-42") {
//!     // this host handles volume-42
//! }
//! # Ok(())
//! # }
//! ```

mod backend;
mod claim;
mod etcd;
mod groups;
mod lease;
mod lock;
mod ring;
#[cfg_attr(not(feature = "tls"), path = "without_tls.rs")]
mod tls;
mod transport;
mod wire;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, ConfigError, CoordinationOptions, InvalidValue};
use backend::Backend;
pub use claim::claimed_period;
pub(crate) use claim::{AskParent, may_run_cluster_task, with_claimed_period};
use etcd::Etcd;
pub use etcd::{EtcdError, KeyValue};
use groups::follow_leadership;
pub use groups::{GroupEvent, Partitioner};
use lease::{Lease, heartbeat};
pub use lock::LockGuard;
pub use ring::HashRing;

/// Where the keys live in etcd.
const PREFIX: &str = "/oslo";

/// What coordination can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CoordinationError {
    /// `backend_url` is not one this framework speaks.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// etcd could not be reached or refused the call.
    #[error(transparent)]
    Etcd(#[from] EtcdError),
    /// A worker's parent could not claim for it.
    #[error("the parent process could not claim: {0}")]
    Parent(String),
    /// The membership's lease is not valid: etcd has not heard from this host within
    /// `lease_ttl`.
    #[error(
        "no valid coordination lease (etcd has not acknowledged a heartbeat within the lease TTL)"
    )]
    NoLease,
}

/// A connection to the coordination backend for this process. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Coordinator {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    etcd: Etcd,
    url: String,
    /// The URL as logs show it: its password masked.
    shown_url: String,
    member: String,
    group: String,
    /// A worker's way to its parent, which claims for it; `None` in the host's member.
    parent: Option<Arc<dyn AskParent>>,
    heartbeat: Duration,
    ttl: Duration,
    lease: watch::Sender<Lease>,
    /// Groups joined, with the leader each last saw.
    groups: Mutex<BTreeMap<String, Option<String>>>,
    /// Members of each group watched by a partitioner, refreshed at each heartbeat.
    members: Mutex<BTreeMap<String, BTreeSet<String>>>,
    /// Set while etcd cannot be reached, so that the outage is logged once.
    outage: AtomicBool,
    /// Whether the heartbeat keeps a lease: always for a member, for a worker once it
    /// takes a lock.
    wants_lease: AtomicBool,
    lease_wanted: tokio::sync::Notify,
    stop: CancellationToken,
}

impl Coordinator {
    /// Connects as `conf`'s `[coordination]` says, as the host's member or (with
    /// `parent`) as a worker under it; `None` when `backend_url` is not set. The
    /// heartbeat starts at once; when etcd cannot be reached the coordinator keeps
    /// trying (the outage is logged once).
    fn start(
        conf: &Config,
        parent: Option<Arc<dyn AskParent>>,
    ) -> Result<Option<Self>, ConfigError> {
        let member_of_host = parent.is_none();
        let Some((url, backend, options)) = checked_options(conf)? else {
            return Ok(None);
        };
        let member = options.member_id.clone().unwrap_or_else(host_name);
        let group = options.group.clone().unwrap_or_else(program_name);
        let inner = Arc::new(Inner {
            etcd: Etcd::new(backend),
            shown_url: crate::config::mask_inline(&url).into_owned(),
            url,
            member,
            group: group.clone(),
            parent,
            heartbeat: options.heartbeat,
            ttl: options.lease_ttl,
            lease: watch::Sender::new(Lease::None),
            groups: Mutex::default(),
            members: Mutex::default(),
            outage: AtomicBool::new(false),
            wants_lease: AtomicBool::new(member_of_host),
            lease_wanted: tokio::sync::Notify::new(),
            stop: CancellationToken::new(),
        });
        if member_of_host {
            inner.lock_groups().insert(group.clone(), None);
            tokio::spawn(follow_leadership(Arc::clone(&inner), group));
        }
        tokio::spawn(heartbeat(Arc::clone(&inner)));
        tracing::info!(
            backend = %inner.shown_url, member = %inner.member, group = %inner.group,
            role = if member_of_host { "member" } else { "worker" }, "coordination started"
        );
        Ok(Some(Coordinator { inner }))
    }

    /// This host's member id.
    pub fn member_id(&self) -> &str {
        &self.inner.member
    }

    /// The service's group, which the host joined at start.
    pub fn group(&self) -> &str {
        &self.inner.group
    }

    /// Connects as `conf`'s `[coordination]` says, as its host's member, outside a
    /// launcher (a command-line tool, a benchmark): `None` when `backend_url` is not
    /// set. Services get theirs from [`current`]. Call it inside a tokio runtime (the
    /// heartbeat is a task of it), and [`Coordinator::leave`] when done.
    pub fn connect(conf: &Config) -> Result<Option<Coordinator>, ConfigError> {
        Self::start(conf, None)
    }

    /// Leaves every group at once (the lease is revoked: locks and leadership pass to
    /// the others) and stops the heartbeat.
    pub async fn leave(&self) {
        self.inner.stop.cancel();
        let lease = *self.inner.lease.borrow();
        if let Lease::Held { id, .. } = lease {
            if let Err(err) = self.inner.etcd.revoke(id).await {
                tracing::warn!(error = %err, "could not revoke the coordination lease; it expires by itself");
            }
        }
        self.inner.lease.send_replace(Lease::None);
        tracing::info!(member = %self.inner.member, "coordination left");
    }
}

impl Inner {
    /// Whether this process is its host's member (not a worker under it).
    fn is_member(&self) -> bool {
        self.parent.is_none()
    }

    fn lock_groups(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Option<String>>> {
        self.groups.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// `[coordination]` checked as a start needs it: the URL read (its files too), the
/// lease and heartbeat in their bounds; `None` without `backend_url`.
fn checked_options(
    conf: &Config,
) -> Result<Option<(String, Backend, Arc<CoordinationOptions>)>, ConfigError> {
    let options = conf.group::<CoordinationOptions>()?;
    let Some(url) = options.backend_url.clone() else {
        return Ok(None);
    };
    let backend = Backend::parse(&url).map_err(|reason| {
        InvalidValue::in_snapshot(
            &conf.snapshot(),
            "coordination",
            "backend_url",
            &url,
            reason,
        )
    })?;
    let snapshot = conf.snapshot();
    let invalid = |option: &str, value: Duration, reason: String| {
        // The value as written, where it was written; the parsed one otherwise.
        let text = snapshot.raw("coordination", option).map_or_else(
            || humantime::format_duration(value).to_string(),
            |raw| raw.text.clone(),
        );
        InvalidValue::in_snapshot(&snapshot, "coordination", option, &text, reason)
    };
    if options.lease_ttl < Duration::from_secs(1) {
        return Err(invalid(
            "lease_ttl",
            options.lease_ttl,
            "must be at least 1s (etcd counts leases in whole seconds)".to_owned(),
        ));
    }
    if options.heartbeat >= options.lease_ttl || options.heartbeat.is_zero() {
        return Err(invalid(
            "heartbeat",
            options.heartbeat,
            format!(
                "must be above 0 and below lease_ttl ({})",
                humantime::format_duration(options.lease_ttl)
            ),
        ));
    }
    Ok(Some((url, backend, options)))
}

/// Checks `[coordination]` as a start would, connecting nowhere (`--check-config`).
pub(crate) fn check(conf: &Config) -> Result<(), ConfigError> {
    checked_options(conf).map(drop)
}

/// A name (group, member, task, lock) as one segment of a key: `%` and `/` escaped, so
/// that group `a` does not list the members of group `a/b`, and a member id with a `/`
/// is one member.
pub(crate) fn escape(name: &str) -> std::borrow::Cow<'_, str> {
    if !name.contains(['%', '/']) {
        return std::borrow::Cow::Borrowed(name);
    }
    std::borrow::Cow::Owned(name.replace('%', "%25").replace('/', "%2F"))
}

/// The name a key segment made by [`escape`] stands for.
pub(crate) fn unescape(segment: &str) -> String {
    segment.replace("%2F", "/").replace("%25", "%")
}

/// The program's name, as its file is called: the same in the parent and its workers.
fn program_name() -> String {
    std::env::args_os()
        .next()
        .as_deref()
        .map(std::path::Path::new)
        .and_then(std::path::Path::file_name)
        .map_or_else(
            || "oslo".to_owned(),
            |name| name.to_string_lossy().into_owned(),
        )
}

fn host_name() -> String {
    rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned()
}

/// The coordinator of this process, while one runs.
static CURRENT: Mutex<Option<Coordinator>> = Mutex::new(None);

/// The coordinator of this process, when `[coordination] backend_url` is set and the
/// launcher has started it.
pub fn current() -> Option<Coordinator> {
    CURRENT
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()
}

/// Starts coordination for this process as its host's member, or as a worker that asks
/// `parent` to claim for it; does nothing without `backend_url`. The launchers call it.
pub(crate) fn start(conf: &Config, parent: Option<Arc<dyn AskParent>>) -> Result<(), ConfigError> {
    let started = Coordinator::start(conf, parent)?;
    let old = std::mem::replace(
        &mut *CURRENT.lock().unwrap_or_else(PoisonError::into_inner),
        started,
    );
    if let Some(old) = old {
        tokio::spawn(async move { old.leave().await });
    }
    Ok(())
}

/// Waits (a little) for the first lease of a coordinator just started, so that the
/// services' first cluster-task runs can be claimed; returns at once without one, and
/// after the first heartbeat's time when etcd does not answer.
///
/// etcd refusing the URL's user and password stops the start: no later heartbeat
/// would do better. An etcd that cannot be reached does not: it may come back.
pub(crate) async fn wait_for_first_lease() -> Result<(), EtcdError> {
    let Some(coordinator) = current() else {
        return Ok(());
    };
    // Unreachable is no reason to stop: the heartbeat keeps trying, and says so.
    if let Err(err @ EtcdError::Authentication { .. }) = coordinator.inner.etcd.authenticate().await
    {
        return Err(err);
    }
    if coordinator.inner.is_member() {
        let within = coordinator.inner.heartbeat.min(Duration::from_secs(2));
        if !coordinator.wait_for_lease(within).await {
            tracing::warn!("starting without a coordination lease: cluster tasks wait for etcd");
        }
    }
    Ok(())
}

/// Leaves, if coordination runs. The launchers call it at stop.
pub(crate) async fn stop() {
    let current = CURRENT
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take();
    if let Some(coordinator) = current {
        coordinator.leave().await;
    }
}

/// After a reload: starts, stops or moves coordination when `backend_url` changed.
pub(crate) fn follow_reload(
    conf: &Config,
    parent: Option<Arc<dyn AskParent>>,
) -> Result<(), ConfigError> {
    let wanted = conf.group::<CoordinationOptions>()?.backend_url.clone();
    let running = current().map(|c| c.inner.url.clone());
    if wanted == running {
        return Ok(());
    }
    let shown = |url: &Option<String>| {
        url.as_deref()
            .map(|url| crate::config::mask_inline(url).into_owned())
    };
    tracing::info!(from = ?shown(&running), to = ?shown(&wanted), "coordination backend changed");
    if wanted.is_none() {
        if let Some(old) = CURRENT
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            tokio::spawn(async move { old.leave().await });
        }
        return Ok(());
    }
    start(conf, parent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_one_segment_of_a_key() {
        assert_eq!(escape("pool"), "pool");
        assert_eq!(escape("a/b"), "a%2Fb");
        assert_eq!(escape("50%/x"), "50%25%2Fx");
        for name in ["pool", "a/b", "50%/x", "%2F", "a%b/c%2F"] {
            assert_eq!(unescape(&escape(name)), name);
        }
        // A group's prefix never holds another group's keys.
        assert!(!groups::member_key("a/b", "m").starts_with(&format!("{PREFIX}/members/a/")));
    }
}
