//! The tokio runtime `#[oslo::main]` builds: its flavor and its number of threads.
//!
//! | the program says | a process that is no worker | a worker process |
//! |---|---|---|
//! | nothing | multi-threaded, one thread per core (tokio's default) | its share of the cores: cores / workers in all, at least 1; current-thread when that is 1 |
//! | `flavor = "current_thread"` | current-thread | current-thread |
//! | `flavor = "multi_thread"` | one thread per core | multi-threaded, its share of the cores |
//! | `worker_threads = N` | N threads | N threads |
//!
//! Several workers on a small machine thus do not each start a thread per core: four
//! workers on two cores run one thread each, as oslo.service's workers (one process a
//! core) do, and a worker alone on a big machine still uses it.

use std::io;

use tokio::runtime::{Builder, Runtime};

/// `flavor = "…"` of `#[oslo::main]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuntimeFlavor {
    /// Everything on the main thread.
    CurrentThread,
    /// A pool of worker threads.
    MultiThread,
}

/// What `#[oslo::main(flavor = …, worker_threads = …)]` asked for; `None` leaves it to
/// the default sizing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RuntimeSpec {
    /// The flavor asked for.
    pub flavor: Option<RuntimeFlavor>,
    /// The threads asked for, at least 1 (the macro checks it).
    pub worker_threads: Option<usize>,
}

/// The runtime a process runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Sizing {
    CurrentThread,
    MultiThread(Option<usize>),
}

/// The sizing rule of the module's table. `worker_share` is `Some` in a worker process:
/// its share of the cores.
pub(crate) fn sizing(spec: RuntimeSpec, worker_share: Option<usize>) -> Sizing {
    match (spec.flavor, spec.worker_threads, worker_share) {
        (Some(RuntimeFlavor::CurrentThread), _, _) => Sizing::CurrentThread,
        (_, Some(threads), _) => Sizing::MultiThread(Some(threads)),
        (None, None, Some(1)) => Sizing::CurrentThread,
        (_, None, share) => Sizing::MultiThread(share),
    }
}

/// Builds the runtime `sizing` says.
pub(crate) fn build(sizing: Sizing) -> io::Result<Runtime> {
    let mut builder = match sizing {
        Sizing::CurrentThread => Builder::new_current_thread(),
        Sizing::MultiThread(threads) => {
            let mut builder = Builder::new_multi_thread();
            if let Some(threads) = threads {
                builder.worker_threads(threads);
            }
            builder
        }
    };
    builder.enable_all().build()
}

#[cfg(test)]
mod tests {
    use super::*;

    const fn spec(flavor: Option<RuntimeFlavor>, worker_threads: Option<usize>) -> RuntimeSpec {
        RuntimeSpec {
            flavor,
            worker_threads,
        }
    }

    #[test]
    fn the_program_decides_first_then_the_workers_share() {
        use RuntimeFlavor::{CurrentThread, MultiThread};
        let nothing = spec(None, None);
        assert_eq!(sizing(nothing, None), Sizing::MultiThread(None));
        assert_eq!(sizing(nothing, Some(1)), Sizing::CurrentThread);
        assert_eq!(sizing(nothing, Some(4)), Sizing::MultiThread(Some(4)));
        for share in [None, Some(1), Some(4)] {
            assert_eq!(
                sizing(spec(Some(CurrentThread), None), share),
                Sizing::CurrentThread
            );
            assert_eq!(
                sizing(spec(None, Some(3)), share),
                Sizing::MultiThread(Some(3))
            );
            assert_eq!(
                sizing(spec(Some(MultiThread), Some(3)), share),
                Sizing::MultiThread(Some(3))
            );
        }
        assert_eq!(
            sizing(spec(Some(MultiThread), None), None),
            Sizing::MultiThread(None)
        );
        assert_eq!(
            sizing(spec(Some(MultiThread), None), Some(1)),
            Sizing::MultiThread(Some(1))
        );
    }

    #[test]
    fn each_sizing_builds_a_runtime_of_that_shape() {
        let current = build(Sizing::CurrentThread).unwrap();
        assert_eq!(current.metrics().num_workers(), 1);
        let pool = build(Sizing::MultiThread(Some(3))).unwrap();
        assert_eq!(pool.metrics().num_workers(), 3);
        assert_eq!(
            pool.handle().runtime_flavor(),
            tokio::runtime::RuntimeFlavor::MultiThread
        );
        assert_eq!(
            current.handle().runtime_flavor(),
            tokio::runtime::RuntimeFlavor::CurrentThread
        );
    }
}
