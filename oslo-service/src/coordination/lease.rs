//! The lease that makes this process's membership (and its locks) last: granted and
//! renewed by the heartbeat, and checked before anything is done for the cluster
//! (fencing). An outage of etcd is logged once, and its end once.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use super::etcd::EtcdError;
use super::groups::member_key;
use super::{CoordinationError, Coordinator, Inner, PREFIX};

/// A member's (or a worker's) lease as this process last knew it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Lease {
    None,
    Held { id: i64, valid_until: Instant },
}

impl Lease {
    /// The lease's id while it is valid.
    pub(super) fn valid(self) -> Option<i64> {
        match self {
            Lease::Held { id, valid_until } if Instant::now() < valid_until => Some(id),
            _ => None,
        }
    }
}

impl Coordinator {
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

    /// A worker takes a lease of its own only once it needs one (for a lock): until
    /// then its parent's heartbeat is the host's only one. Waits for the first grant.
    pub(super) async fn want_lease(&self) {
        if !self.inner.wants_lease.swap(true, Ordering::Relaxed) {
            self.inner.lease_wanted.notify_one();
            self.wait_for_lease(self.inner.ttl).await;
        }
    }

    pub(super) fn valid_lease(&self) -> Result<i64, CoordinationError> {
        self.inner
            .lease
            .borrow()
            .valid()
            .ok_or(CoordinationError::NoLease)
    }
}

impl Inner {
    /// Logs that etcd cannot be reached, once per outage.
    pub(super) fn report_outage(&self, err: &EtcdError) {
        crate::metrics::etcd_error();
        if !self.outage.swap(true, Ordering::Relaxed) {
            tracing::warn!(error = %err, "coordination unavailable: cluster tasks do not run here until etcd answers");
        }
    }

    pub(super) fn report_recovery(&self) {
        if self.outage.swap(false, Ordering::Relaxed) {
            tracing::info!(backend = %self.shown_url, "coordination available again");
        }
    }

    /// One heartbeat: renews the lease (or takes a new one, joining the groups again)
    /// and stands for leadership, unless this is a worker that needs no lease; then
    /// refreshes the members partitioners read.
    async fn beat(&self) -> Result<(), EtcdError> {
        if self.wants_lease.load(Ordering::Relaxed) {
            self.renew_lease().await?;
        }
        self.refresh_members().await
    }

    async fn renew_lease(&self) -> Result<(), EtcdError> {
        let sent = Instant::now();
        let current = *self.lease.borrow();
        let renewed = match current {
            Lease::Held { id, .. } => self.etcd.keep_alive(id).await?.map(|ttl| (id, ttl)),
            Lease::None => None,
        };
        let (id, ttl) = match renewed {
            Some(renewed) => {
                crate::metrics::lease_renewed();
                renewed
            }
            None => {
                if current != Lease::None {
                    crate::metrics::lease_lost();
                    tracing::warn!(member = %self.member, "coordination lease lost: joining again");
                    self.lease.send_replace(Lease::None);
                }
                let id = self.etcd.grant(self.ttl).await?;
                (id, self.ttl)
            }
        };
        let fresh = !matches!(current, Lease::Held { id: old, .. } if old == id);
        if fresh && self.is_member() {
            let groups: Vec<String> = self.lock_groups().keys().cloned().collect();
            for group in &groups {
                self.etcd
                    .put(&member_key(group, &self.member), &self.member, id)
                    .await?;
            }
        }
        // etcd's answer is a number from the network: never trusted for longer than the
        // TTL this member asked for.
        self.lease.send_replace(Lease::Held {
            id,
            valid_until: sent + ttl.min(self.ttl),
        });
        if fresh {
            tracing::info!(member = %self.member, lease = id, "coordination lease granted");
        }
        if self.is_member() {
            let groups: Vec<String> = self.lock_groups().keys().cloned().collect();
            for group in &groups {
                self.campaign(group, id).await?;
            }
        }
        Ok(())
    }

    async fn refresh_members(&self) -> Result<(), EtcdError> {
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
                .get_prefix(&format!("{PREFIX}/members/{}/", super::escape(&group)))
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

pub(super) async fn heartbeat(inner: Arc<Inner>) {
    loop {
        let beat = tokio::select! {
            () = inner.stop.cancelled() => return,
            beat = inner.beat() => beat,
        };
        // A refused password does not get better at the heartbeat's pace: try again
        // ten heartbeats later (at most 30 s), as it may be changed in etcd.
        let mut pause = inner.heartbeat;
        match beat {
            Ok(()) => inner.report_recovery(),
            Err(err) => {
                if matches!(err, EtcdError::Authentication { .. }) {
                    pause = (inner.heartbeat * 10).min(Duration::from_secs(30));
                }
                inner.report_outage(&err);
            }
        }
        tokio::select! {
            () = inner.stop.cancelled() => return,
            () = tokio::time::sleep(pause) => {}
            // A worker that now wants a lease (for a lock) gets one at once.
            () = inner.lease_wanted.notified() => {}
        }
    }
}
