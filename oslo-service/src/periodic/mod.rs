//! Periodic tasks: functions of a service that run every so often between its start
//! and stop, with oslo.service's `periodic_task` semantics.
//!
//! `#[periodic_task(spacing = "10s")]` on an async method of a `#[oslo::service]` impl
//! block declares one; the service runs its tasks by itself once started. The types here
//! are what that generates, usable by hand as well.

mod admission;
mod configured;
mod context;
pub(crate) mod driver;
mod scheduler;
mod shared;
mod spec;
mod stats;

pub use configured::OptionRef;
pub use driver::Timing;
pub use scheduler::PeriodicTasks;
pub use spec::{DEFAULT_INTERVAL, PeriodicTask, PeriodicTaskSpec, Scope, Spacing, TaskFn};
pub use stats::TaskStats;

/// The periodic tasks a service type declares, in definition order: what
/// `#[periodic_task]` methods of a `#[oslo::service]` impl block generate.
///
/// ```
/// use oslo::periodic::{PeriodicTask, PeriodicTaskRegistry, PeriodicTaskSpec};
///
/// struct Poller;
///
/// impl PeriodicTaskRegistry for Poller {
///     fn periodic_tasks() -> Vec<PeriodicTask<Self>> {
///         vec![PeriodicTask::new(PeriodicTaskSpec::new("poll"), |_, _| Box::pin(async { Ok(()) }))]
///     }
/// }
/// assert_eq!(Poller::periodic_tasks()[0].spec().name(), "poll");
/// ```
pub trait PeriodicTaskRegistry: Sized {
    /// The declared tasks, in definition order.
    fn periodic_tasks() -> Vec<PeriodicTask<Self>>;
}

#[cfg(test)]
mod tests;
