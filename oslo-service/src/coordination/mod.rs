//! Coordination between the hosts of a service, on etcd v3 (tooz's model): a membership
//! kept alive by a leased heartbeat, groups and their members, leader election per
//! group, locks, a hash ring to share work items, and the claims that make a
//! cluster-scoped periodic task run on one host per period.
//!
//! The launcher starts it when `[coordination] backend_url` is set (joining the
//! service's group), leaves at stop (the lease is revoked, so leadership and locks pass
//! to the others at once) and follows a changed `backend_url` on SIGHUP. Under worker
//! processes the parent is the host's member and the only one to send heartbeats; a
//! worker claims cluster-task runs on the parent's membership (etcd checks it stands)
//! and takes a lease of its own only when it takes a lock.
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

mod etcd;
mod ring;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, ConfigError, CoordinationOptions, InvalidValue};
use etcd::{Change, Etcd, Guard};
pub use etcd::{EtcdError, KeyValue};
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
    /// The membership's lease is not valid: etcd has not heard from this host within
    /// `lease_ttl`.
    #[error(
        "no valid coordination lease (etcd has not acknowledged a heartbeat within the lease TTL)"
    )]
    NoLease,
}

/// A member's (or a worker's) lease as this process last knew it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lease {
    None,
    Held { id: i64, valid_until: Instant },
}

impl Lease {
    /// The lease's id while it is valid.
    fn valid(self) -> Option<i64> {
        match self {
            Lease::Held { id, valid_until } if Instant::now() < valid_until => Some(id),
            _ => None,
        }
    }
}

/// Whether this process is its host's member or a worker under it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Member,
    Worker,
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
    member: String,
    group: String,
    role: Role,
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
    /// Connects as `conf`'s `[coordination]` says; `None` when `backend_url` is not set. The heartbeat starts at once; when etcd cannot be
    /// reached the coordinator keeps trying (the outage is logged once).
    fn start(conf: &Config, role: Role) -> Result<Option<Self>, ConfigError> {
        let options = conf.group::<CoordinationOptions>()?;
        let Some(url) = options.backend_url.clone() else {
            return Ok(None);
        };
        let address = address_of(&url).map_err(|reason| {
            InvalidValue::in_snapshot(
                &conf.snapshot(),
                "coordination",
                "backend_url",
                &url,
                reason,
            )
        })?;
        if options.heartbeat >= options.lease_ttl || options.heartbeat.is_zero() {
            let value = humantime::format_duration(options.heartbeat).to_string();
            return Err(InvalidValue::in_snapshot(
                &conf.snapshot(),
                "coordination",
                "heartbeat",
                &value,
                format!(
                    "must be above 0 and below lease_ttl ({})",
                    humantime::format_duration(options.lease_ttl)
                ),
            ));
        }
        let member = options.member_id.clone().unwrap_or_else(host_name);
        let group = options.group.clone().unwrap_or_else(program_name);
        let inner = Arc::new(Inner {
            etcd: Etcd::new(address),
            url,
            member,
            group: group.clone(),
            role,
            heartbeat: options.heartbeat,
            ttl: options.lease_ttl,
            lease: watch::Sender::new(Lease::None),
            groups: Mutex::default(),
            members: Mutex::default(),
            outage: AtomicBool::new(false),
            wants_lease: AtomicBool::new(role == Role::Member),
            lease_wanted: tokio::sync::Notify::new(),
            stop: CancellationToken::new(),
        });
        if role == Role::Member {
            inner.lock_groups().insert(group.clone(), None);
            tokio::spawn(follow_leadership(Arc::clone(&inner), group));
        }
        tokio::spawn(heartbeat(Arc::clone(&inner)));
        tracing::info!(
            backend = %inner.url, member = %inner.member, group = %inner.group,
            role = ?role, "coordination started"
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

    /// Whether etcd acknowledged a heartbeat of this process within the lease TTL.
    pub fn has_valid_lease(&self) -> bool {
        self.inner.lease.borrow().valid().is_some()
    }

    /// Waits until the lease is valid (after a start or an outage), at most `within`.
    pub async fn wait_for_lease(&self, within: Duration) -> bool {
        let mut lease = self.inner.lease.subscribe();
        tokio::time::timeout(within, lease.wait_for(|lease| lease.valid().is_some()))
            .await
            .is_ok_and(|found| found.is_ok())
    }

    /// Joins `group` (the membership lasts as long as the lease) and stands for its
    /// leadership at each heartbeat.
    pub async fn join_group(&self, group: &str) -> Result<(), CoordinationError> {
        let new = self
            .inner
            .lock_groups()
            .insert(group.to_owned(), None)
            .is_none();
        if new {
            tokio::spawn(follow_leadership(Arc::clone(&self.inner), group.to_owned()));
        }
        let lease = self.valid_lease()?;
        self.inner
            .etcd
            .put(
                &member_key(group, &self.inner.member),
                &self.inner.member,
                lease,
            )
            .await?;
        self.inner.campaign(group, lease).await?;
        Ok(())
    }

    /// Leaves `group`, handing its leadership over if this host held it.
    pub async fn leave_group(&self, group: &str) -> Result<(), CoordinationError> {
        self.inner.lock_groups().remove(group);
        if let Some(lease) = self.inner.lease.borrow().valid() {
            let etcd = &self.inner.etcd;
            etcd.delete_if_lease(&leader_key(group), lease).await?;
            etcd.delete_if_lease(&member_key(group, &self.inner.member), lease)
                .await?;
        }
        Ok(())
    }

    /// The members of `group`, by id.
    pub async fn members(&self, group: &str) -> Result<BTreeSet<String>, CoordinationError> {
        let (kvs, _) = self
            .inner
            .etcd
            .get_prefix(&format!("{PREFIX}/members/{group}/"))
            .await?;
        Ok(kvs.into_iter().map(|kv| kv.value).collect())
    }

    /// The leader of `group`, if it has one.
    pub async fn leader(&self, group: &str) -> Result<Option<String>, CoordinationError> {
        Ok(self
            .inner
            .etcd
            .get(&leader_key(group))
            .await?
            .map(|kv| kv.value))
    }

    /// Whether this host leads `group` (as of the last heartbeat) and its lease is
    /// valid.
    pub fn is_leader(&self, group: &str) -> bool {
        self.has_valid_lease()
            && self
                .inner
                .lock_groups()
                .get(group)
                .is_some_and(|leader| leader.as_deref() == Some(self.member_id()))
    }

    /// Joins and leaves in `group` from now on, as they happen: the receiver gets each
    /// one until it is dropped.
    pub async fn watch_group(
        &self,
        group: &str,
    ) -> Result<tokio::sync::mpsc::UnboundedReceiver<GroupEvent>, CoordinationError> {
        let prefix = format!("{PREFIX}/members/{group}/");
        let (_, revision) = self.inner.etcd.get_prefix(&prefix).await?;
        let (events, receiver) = tokio::sync::mpsc::unbounded_channel();
        let inner = Arc::clone(&self.inner);
        tokio::spawn(async move {
            let mut next = revision + 1;
            loop {
                let sent = inner.etcd.watch_prefix(&prefix, next, |changes| {
                    for change in changes {
                        let event = match change {
                            Change::Put(kv) => GroupEvent::Joined(kv.value),
                            Change::Delete(key) => GroupEvent::Left(
                                key.rsplit('/').next().unwrap_or_default().to_owned(),
                            ),
                        };
                        let _ = events.send(event);
                    }
                });
                tokio::select! {
                    () = inner.stop.cancelled() => return,
                    () = events.closed() => return,
                    result = sent => {
                        if let Err(err) = result {
                            inner.report_outage(&err);
                        }
                    }
                }
                // Watch again from what is there now: changes missed while the watch
                // was down are not replayed, the members are read afresh.
                tokio::time::sleep(inner.heartbeat).await;
                if let Ok((_, revision)) = inner.etcd.get_prefix(&prefix).await {
                    next = revision + 1;
                }
            }
        });
        Ok(receiver)
    }

    /// The hash ring of `group`'s members, kept up to date at each heartbeat.
    pub async fn partitioner(&self, group: &str) -> Result<Partitioner, CoordinationError> {
        let members = self.members(group).await?;
        self.inner
            .members
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(group.to_owned(), members);
        Ok(Partitioner {
            coordinator: self.clone(),
            group: group.to_owned(),
        })
    }

    /// Takes lock `name`, waiting while another holds it. The lock lasts as long as this
    /// process's lease: [`LockGuard::is_lost`] says when it no longer holds.
    pub async fn lock(&self, name: &str) -> Result<LockGuard, CoordinationError> {
        let key = lock_key(name);
        loop {
            // Read before trying, so that a release between the try and the watch is
            // still seen: the watch starts after this revision.
            let revision = self.inner.etcd.revision_at(&key).await?;
            if let Some(guard) = self.try_lock(name).await? {
                return Ok(guard);
            }
            let released = tokio::sync::Notify::new();
            let watched = self.inner.etcd.watch_key(&key, revision + 1, |changes| {
                if changes
                    .iter()
                    .any(|change| matches!(change, Change::Delete(_)))
                {
                    released.notify_one();
                }
            });
            // Released, or the watch broke, or a heartbeat's time passed: try again.
            tokio::select! {
                () = released.notified() => {}
                _ = watched => {}
                () = tokio::time::sleep(self.inner.heartbeat) => {}
            }
        }
    }

    /// Takes lock `name` if no one holds it.
    pub async fn try_lock(&self, name: &str) -> Result<Option<LockGuard>, CoordinationError> {
        self.want_lease().await;
        let lease = self.valid_lease()?;
        let key = lock_key(name);
        let taken = self
            .inner
            .etcd
            .create(&key, &self.inner.member, lease)
            .await?;
        Ok(taken.then(|| LockGuard {
            inner: Arc::clone(&self.inner),
            key,
            lease,
        }))
    }

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
        let member_key = member_key(&inner.group, &inner.member);
        // A worker claims on its parent's membership, which etcd checks; a member on
        // its own lease, which this process checks first (fencing).
        let guard = match inner.role {
            Role::Member => Guard::LeaseIs(&member_key, self.valid_lease()?),
            Role::Worker => Guard::Exists(&member_key),
        };
        let period = period_of(SystemTime::now(), every);
        let key = format!("{PREFIX}/tasks/{}/{task}", inner.group);
        let value = format!("{period:020} {}", inner.member);
        let claimed = inner
            .etcd
            .advance(guard, &key, &value, &format!("{period:020}"))
            .await
            .inspect_err(|err| inner.report_outage(err))?;
        inner.report_recovery();
        // Fencing: a lease that expired during the call no longer counts.
        if inner.role == Role::Member {
            self.valid_lease()?;
        }
        Ok(claimed.then_some(period))
    }

    /// What [`Coordinator::claim`] decided, for the periodic scheduler.
    async fn claim_run(&self, task: &str, every: Duration) -> Claim {
        match self.claim(task, every).await {
            Ok(Some(period)) => Claim::Run { period },
            Ok(None) => Claim::Skip("another member runs this period".to_owned()),
            Err(err) => Claim::Skip(err.to_string()),
        }
    }

    /// Connects as `conf`'s `[coordination]` says, as its host's member, outside a
    /// launcher (a command-line tool, a benchmark): `None` when `backend_url` is not
    /// set. Services get theirs from [`current`]. Call [`Coordinator::leave`] when done.
    pub fn connect(conf: &Config) -> Result<Option<Coordinator>, ConfigError> {
        Self::start(conf, Role::Member)
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

    /// A worker takes a lease of its own only once it needs one (for a lock): until
    /// then its parent's heartbeat is the host's only one. Waits for the first grant.
    async fn want_lease(&self) {
        if !self.inner.wants_lease.swap(true, Ordering::Relaxed) {
            self.inner.lease_wanted.notify_one();
            self.wait_for_lease(self.inner.ttl).await;
        }
    }

    fn valid_lease(&self) -> Result<i64, CoordinationError> {
        self.inner
            .lease
            .borrow()
            .valid()
            .ok_or(CoordinationError::NoLease)
    }
}

/// What a cluster task's claim decided.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Claim {
    /// This host runs `period`.
    Run { period: u64 },
    /// Another host runs it, or this one may not: why.
    Skip(String),
}

/// A change in a group's members.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GroupEvent {
    /// A member joined (or renewed its membership after losing it).
    Joined(String),
    /// A member left, or its lease expired.
    Left(String),
}

/// A held lock; released when dropped.
#[derive(Debug)]
pub struct LockGuard {
    inner: Arc<Inner>,
    key: String,
    lease: i64,
}

impl LockGuard {
    /// Whether the lock may have passed to another: the lease it was taken with expired
    /// or was replaced.
    pub fn is_lost(&self) -> bool {
        self.inner.lease.borrow().valid() != Some(self.lease)
    }

    /// Resolves when the lock is lost.
    pub async fn lost(&self) {
        let mut lease = self.inner.lease.subscribe();
        let lost = lease.wait_for(|lease| lease.valid() != Some(self.lease));
        // The lease also runs out without any change being sent: check at its end.
        let expires = match *self.inner.lease.borrow() {
            Lease::Held { valid_until, .. } => valid_until,
            Lease::None => Instant::now(),
        };
        tokio::select! {
            _ = lost => {}
            () = tokio::time::sleep_until(expires) => {}
        }
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        let etcd = self.inner.etcd.clone();
        let (key, lease) = (std::mem::take(&mut self.key), self.lease);
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if let Err(err) = etcd.delete_if_lease(&key, lease).await {
                    tracing::warn!(lock = %key, error = %err, "could not release the lock; it goes with the lease");
                }
            });
        }
    }
}

/// A group's hash ring, from the members etcd lists at each heartbeat.
#[derive(Clone, Debug)]
pub struct Partitioner {
    coordinator: Coordinator,
    group: String,
}

impl Partitioner {
    /// The ring as of the last heartbeat.
    pub fn ring(&self) -> HashRing {
        let members = self
            .coordinator
            .inner
            .members
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        HashRing::new(
            members
                .get(&self.group)
                .into_iter()
                .flatten()
                .map(String::as_str),
        )
    }

    /// Up to `count` members for `key`, its owner first.
    pub fn members_for(&self, key: &str, count: usize) -> Vec<String> {
        self.ring().members_for(key, count)
    }

    /// Whether this host owns `key`.
    pub fn belongs_to_self(&self, key: &str) -> bool {
        self.members_for(key, 1).first().map(String::as_str) == Some(self.coordinator.member_id())
    }
}

impl Inner {
    fn lock_groups(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Option<String>>> {
        self.groups.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Stands for `group`'s leadership and records who leads it.
    async fn campaign(&self, group: &str, lease: i64) -> Result<(), EtcdError> {
        let key = leader_key(group);
        self.etcd.create(&key, &self.member, lease).await?;
        let leader = self.etcd.get(&key).await?.map(|kv| kv.value);
        if let Some(known) = self.lock_groups().get_mut(group) {
            if *known != leader && leader.as_deref() == Some(&self.member) {
                tracing::info!(group, member = %self.member, "elected leader");
            }
            *known = leader;
        }
        Ok(())
    }

    /// Logs that etcd cannot be reached, once per outage.
    fn report_outage(&self, err: &EtcdError) {
        if !self.outage.swap(true, Ordering::Relaxed) {
            tracing::warn!(error = %err, "coordination unavailable: cluster tasks do not run here until etcd answers");
        }
    }

    fn report_recovery(&self) {
        if self.outage.swap(false, Ordering::Relaxed) {
            tracing::info!(backend = %self.url, "coordination available again");
        }
    }

    /// One heartbeat: renews the lease (or takes a new one, joining the groups again),
    /// stands for leadership, refreshes the members partitioners read.
    async fn beat(&self) -> Result<(), EtcdError> {
        let sent = Instant::now();
        let current = *self.lease.borrow();
        let renewed = match current {
            Lease::Held { id, .. } => self.etcd.keep_alive(id).await?.map(|ttl| (id, ttl)),
            Lease::None => None,
        };
        let (id, ttl) = match renewed {
            Some(renewed) => renewed,
            None => {
                if current != Lease::None {
                    tracing::warn!(member = %self.member, "coordination lease lost: joining again");
                    self.lease.send_replace(Lease::None);
                }
                let id = self.etcd.grant(self.ttl).await?;
                (id, self.ttl)
            }
        };
        let fresh = !matches!(current, Lease::Held { id: old, .. } if old == id);
        if fresh && self.role == Role::Member {
            let groups: Vec<String> = self.lock_groups().keys().cloned().collect();
            for group in &groups {
                self.etcd
                    .put(&member_key(group, &self.member), &self.member, id)
                    .await?;
            }
        }
        self.lease.send_replace(Lease::Held {
            id,
            valid_until: sent + ttl,
        });
        if fresh {
            tracing::info!(member = %self.member, lease = id, "coordination lease granted");
        }
        if self.role == Role::Member {
            let groups: Vec<String> = self.lock_groups().keys().cloned().collect();
            for group in &groups {
                self.campaign(group, id).await?;
            }
        }
        let watched: Vec<String> = self
            .members
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .keys()
            .cloned()
            .collect();
        for group in watched {
            let (kvs, _) = self
                .etcd
                .get_prefix(&format!("{PREFIX}/members/{group}/"))
                .await?;
            let now: BTreeSet<String> = kvs.into_iter().map(|kv| kv.value).collect();
            self.members
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(group, now);
        }
        Ok(())
    }
}

async fn heartbeat(inner: Arc<Inner>) {
    if !inner.wants_lease.load(Ordering::Relaxed) {
        tokio::select! {
            () = inner.stop.cancelled() => return,
            () = inner.lease_wanted.notified() => {}
        }
    }
    loop {
        let beat = tokio::select! {
            () = inner.stop.cancelled() => return,
            beat = inner.beat() => beat,
        };
        match beat {
            Ok(()) => inner.report_recovery(),
            Err(err) => inner.report_outage(&err),
        }
        tokio::select! {
            () = inner.stop.cancelled() => return,
            () = tokio::time::sleep(inner.heartbeat) => {}
        }
    }
}

/// Stands for `group`'s leadership as soon as its leader goes (a graceful leave revokes
/// its lease, a dead one's lease expires), rather than at the next heartbeat; ends when
/// the group is left or coordination stops.
async fn follow_leadership(inner: Arc<Inner>, group: String) {
    let key = leader_key(&group);
    let vacated = tokio::sync::Notify::new();
    let still_joined = || !inner.stop.is_cancelled() && inner.lock_groups().contains_key(&group);
    while still_joined() {
        let watched = async {
            let revision = inner.etcd.revision_at(&key).await?;
            inner
                .etcd
                .watch_key(&key, revision + 1, |changes| {
                    if changes
                        .iter()
                        .any(|change| matches!(change, Change::Delete(_)))
                    {
                        vacated.notify_one();
                    }
                })
                .await
        };
        tokio::pin!(watched);
        loop {
            tokio::select! {
                () = inner.stop.cancelled() => return,
                () = vacated.notified() => {
                    let lease = inner.lease.borrow().valid();
                    if let (Some(lease), true) = (lease, still_joined()) {
                        // A failure here is the heartbeat's to report; it campaigns too.
                        let _ = inner.campaign(&group, lease).await;
                    }
                }
                _ = &mut watched => break,
            }
        }
        // The watch ended (etcd went, or closed it): watch again after a heartbeat.
        tokio::select! {
            () = inner.stop.cancelled() => return,
            () = tokio::time::sleep(inner.heartbeat) => {}
        }
    }
}

fn member_key(group: &str, member: &str) -> String {
    format!("{PREFIX}/members/{group}/{member}")
}

fn lock_key(name: &str) -> String {
    format!("{PREFIX}/locks/{name}")
}

fn leader_key(group: &str) -> String {
    format!("{PREFIX}/leaders/{group}")
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

/// `host:port` of a backend URL in tooz's spelling (`etcd3+http://host:port`).
fn address_of(url: &str) -> Result<String, String> {
    let rest = url.strip_prefix("etcd3+http://").ok_or_else(|| {
        "expected etcd3+http://HOST:PORT (etcd v3 through its JSON gateway)".to_owned()
    })?;
    let address = rest.split(['/', '?']).next().unwrap_or_default();
    match address.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => {
            Ok(address.to_owned())
        }
        _ if !address.is_empty() && !address.contains(':') => Ok(format!("{address}:2379")),
        _ => Err("expected etcd3+http://HOST:PORT (etcd v3 through its JSON gateway)".to_owned()),
    }
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

/// Starts coordination for this process as its host's member (`worker` false) or as a
/// worker under it; does nothing without `backend_url`. The launchers call it.
pub(crate) fn start(conf: &Config, worker: bool) -> Result<(), ConfigError> {
    let role = if worker { Role::Worker } else { Role::Member };
    let started = Coordinator::start(conf, role)?;
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
pub(crate) async fn wait_for_first_lease() {
    if let Some(coordinator) = current().filter(|c| c.inner.role == Role::Member) {
        let within = coordinator.inner.heartbeat.min(Duration::from_secs(2));
        if !coordinator.wait_for_lease(within).await {
            tracing::warn!("starting without a coordination lease: cluster tasks wait for etcd");
        }
    }
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
pub(crate) fn follow_reload(conf: &Config, worker: bool) -> Result<(), ConfigError> {
    let wanted = conf.group::<CoordinationOptions>()?.backend_url.clone();
    let running = current().map(|c| c.inner.url.clone());
    if wanted == running {
        return Ok(());
    }
    tracing::info!(from = ?running, to = ?wanted, "coordination backend changed");
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
    start(conf, worker)
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
    match coordinator.claim_run(task, every).await {
        Claim::Run { period } => {
            tracing::debug!(task, period, "cluster task claimed");
            Ok(Some(period))
        }
        Claim::Skip(why) => Err(why),
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
    fn backend_urls_in_tooz_spelling() {
        assert_eq!(
            address_of("etcd3+http://127.0.0.1:2379"),
            Ok("127.0.0.1:2379".into())
        );
        assert_eq!(
            address_of("etcd3+http://etcd?timeout=30"),
            Ok("etcd:2379".into())
        );
        assert!(address_of("etcd3://127.0.0.1:2379").is_err());
        assert!(address_of("etcd3+http://:2379").is_err());
        assert!(address_of("etcd3+http://h:port").is_err());
    }

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
