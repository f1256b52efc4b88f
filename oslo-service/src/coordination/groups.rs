//! Groups: membership (a key per member, on its lease), the members and a watch of
//! joins and leaves, leader election (the first to create the group's leader key leads;
//! the others watch it and stand again as soon as it goes), and the hash ring of a
//! group's members.

use std::collections::BTreeSet;
use std::sync::{Arc, PoisonError};

use super::etcd::{Change, EtcdError, WatchEnd};
use super::{CoordinationError, Coordinator, HashRing, Inner, PREFIX, escape, unescape};

impl Coordinator {
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
            .get_prefix(&format!("{PREFIX}/members/{}/", escape(group)))
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
    /// valid. In a worker process, which stands for nothing itself, it is `false`:
    /// compare [`Coordinator::leader`] with [`Coordinator::member_id`] to learn whether
    /// the worker's host leads.
    pub fn is_leader(&self, group: &str) -> bool {
        self.has_valid_lease()
            && self
                .inner
                .lock_groups()
                .get(group)
                .is_some_and(|leader| leader.as_deref() == Some(self.member_id()))
    }

    /// Joins and leaves in `group` from now on, as they happen: the receiver gets each
    /// one until it is dropped. A watch broken by an outage, or given up because it
    /// heard nothing while its etcd member stopped answering, resumes after the last
    /// change it saw, so the joins and leaves of the gap are delivered too; when etcd
    /// has compacted that history away, the members are read afresh, the difference
    /// delivered as joins and leaves, and a warning says so.
    pub async fn watch_group(
        &self,
        group: &str,
    ) -> Result<tokio::sync::mpsc::UnboundedReceiver<GroupEvent>, CoordinationError> {
        let prefix = format!("{PREFIX}/members/{}/", escape(group));
        let (present, revision) = self.inner.etcd.get_prefix(&prefix).await?;
        let (events, receiver) = tokio::sync::mpsc::unbounded_channel();
        let inner = Arc::clone(&self.inner);
        let mut known: BTreeSet<String> = present.into_iter().map(|kv| kv.value).collect();
        tokio::spawn(async move {
            let mut next = revision + 1;
            loop {
                let sent = inner.etcd.watch(&prefix, true, next, |changes, last| {
                    for change in changes {
                        let event = match change {
                            Change::Put(kv) => {
                                known.insert(kv.value.clone());
                                GroupEvent::Joined(kv.value)
                            }
                            Change::Delete(key) => {
                                let member = key.rsplit('/').next().unwrap_or_default();
                                let member = unescape(member);
                                known.remove(&member);
                                GroupEvent::Left(member)
                            }
                        };
                        let _ = events.send(event);
                    }
                    // Never back: a progress notification may name an older revision.
                    next = next.max(last + 1);
                });
                let ended = tokio::select! {
                    () = inner.stop.cancelled() => return,
                    () = events.closed() => return,
                    ended = sent => ended,
                };
                match ended {
                    Err(err) => inner.report_outage(&err),
                    Ok(WatchEnd::Closed) => {}
                    // A stuck stream, from a member that answers: watch again at once.
                    Ok(WatchEnd::Silent) => continue,
                    Ok(WatchEnd::Compacted(compacted)) => {
                        tracing::warn!(%prefix, compacted, "group watch fell behind etcd's compaction: members read afresh");
                        if let Ok((present, revision)) = inner.etcd.get_prefix(&prefix).await {
                            let present: BTreeSet<String> =
                                present.into_iter().map(|kv| kv.value).collect();
                            for gone in known.difference(&present) {
                                let _ = events.send(GroupEvent::Left(gone.clone()));
                            }
                            for new in present.difference(&known) {
                                let _ = events.send(GroupEvent::Joined(new.clone()));
                            }
                            known = present;
                            next = revision + 1;
                        }
                        continue;
                    }
                }
                // Watch again after a heartbeat, from the change after the last one seen.
                tokio::time::sleep(inner.heartbeat).await;
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
}

impl Inner {
    /// Stands for `group`'s leadership and records who leads it.
    pub(super) async fn campaign(&self, group: &str, lease: i64) -> Result<(), EtcdError> {
        let key = leader_key(group);
        self.etcd.create(&key, &self.member, lease).await?;
        let leader = self.etcd.get(&key).await?.map(|kv| kv.value);
        crate::metrics::leading(group, leader.as_deref() == Some(&self.member));
        if let Some(known) = self.lock_groups().get_mut(group) {
            if *known != leader && leader.as_deref() == Some(&self.member) {
                tracing::info!(group, member = %self.member, "elected leader");
            }
            *known = leader;
        }
        Ok(())
    }
}

/// A change in a group's members.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum GroupEvent {
    /// A member joined (or renewed its membership after losing it).
    Joined(String),
    /// A member left, or its lease expired.
    Left(String),
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

/// Stands for `group`'s leadership as soon as its leader goes (a graceful leave revokes
/// its lease, a dead one's lease expires), rather than at the next heartbeat; ends when
/// the group is left or coordination stops.
pub(super) async fn follow_leadership(inner: Arc<Inner>, group: String) {
    let key = leader_key(&group);
    let vacated = tokio::sync::Notify::new();
    let still_joined = || !inner.stop.is_cancelled() && inner.lock_groups().contains_key(&group);
    while still_joined() {
        let watched = async {
            let revision = inner.etcd.revision_at(&key).await?;
            inner
                .etcd
                .watch(&key, false, revision + 1, |changes, _| {
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

pub(super) fn member_key(group: &str, member: &str) -> String {
    format!("{PREFIX}/members/{}/{}", escape(group), escape(member))
}

pub(super) fn leader_key(group: &str) -> String {
    format!("{PREFIX}/leaders/{}", escape(group))
}
