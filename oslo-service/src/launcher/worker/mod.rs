//! The worker side of worker processes: which worker this process is (its marker, read
//! from the environment once), and its link to the parent.

mod handover;
mod marker;
mod parent_link;

pub(super) use handover::handover_frame;
pub(crate) use handover::parent_values;
pub(super) use marker::{Marker, WORKER_ENV, marker, take_env};
pub(super) use parent_link::{ParentLink, parent_died};

/// Which worker of which service this process is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkerId {
    service: String,
    index: usize,
}

impl WorkerId {
    /// The name of the service the worker runs.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// The worker's index within its service, from 0.
    pub fn index(&self) -> usize {
        self.index
    }
}

/// This process's worker identity, or `None` in a process that is no worker (such as
/// the parent, or a service launched with one worker).
///
/// ```
/// if oslo::launcher::current_worker().is_none() {
///     println!("this is the parent (or a single process)");
/// }
/// ```
pub fn current_worker() -> Option<WorkerId> {
    marker().ok().flatten().map(|m| WorkerId {
        service: m.name.clone(),
        index: m.worker,
    })
}

/// In a worker process, its share of the machine's cores (see [`Marker::threads`]);
/// `None` elsewhere.
pub(crate) fn thread_share() -> Option<usize> {
    marker().ok().flatten().map(|m| m.threads)
}
