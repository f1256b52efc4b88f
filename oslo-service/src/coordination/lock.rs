//! Locks: a key created on this process's lease if no one holds it; a waiter watches
//! the key and tries again as soon as it goes.

use std::sync::Arc;

use tokio::time::Instant;

use super::etcd::Change;
use super::lease::Lease;
use super::{CoordinationError, Coordinator, Inner, PREFIX};

impl Coordinator {
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
            let watched = self
                .inner
                .etcd
                .watch(&key, false, revision + 1, |changes, _| {
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

pub(super) fn lock_key(name: &str) -> String {
    format!("{PREFIX}/locks/{}", super::escape(name))
}
