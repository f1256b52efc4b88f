use std::time::{Duration, UNIX_EPOCH};

use super::report::{Entry, Report, Status};
use super::*;

fn at() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_796_000_000)
}

#[test]
fn a_report_fails_when_any_entry_fails_and_reads_as_health_json() {
    let mut report = Report::default();
    report.add(
        "launcher:readiness",
        Entry::new(Status::Pass, at(), "running".into()),
    );
    assert_eq!(report.status(), Status::Pass);
    report.add(
        "database:check",
        Entry::new(Status::Fail, at(), "refused \"db\"\n".into()),
    );
    assert_eq!(report.status(), Status::Fail);
    assert_eq!(
        report.to_json(),
        "{\"status\":\"fail\",\"checks\":{\
         \"launcher:readiness\":[{\"status\":\"pass\",\"time\":\"2026-11-30T00:53:20Z\",\"output\":\"running\"}],\
         \"database:check\":[{\"status\":\"fail\",\"time\":\"2026-11-30T00:53:20Z\",\"output\":\"refused \\\"db\\\"\\n\"}]}}"
    );
}

#[test]
fn readiness_follows_the_launcher_and_its_workers() {
    let now = at();
    let status = |lifecycle, workers| readiness(lifecycle, "x", workers, now).status_for_tests();
    let workers = |ready, alive| {
        Some(Some(Workers {
            ready,
            alive,
            hung: 0,
        }))
    };
    assert_eq!(status(Lifecycle::Starting, None), Status::Fail);
    assert_eq!(status(Lifecycle::Running, None), Status::Pass);
    // In one process, a reload restarts the services.
    assert_eq!(status(Lifecycle::Reloading, None), Status::Fail);
    assert_eq!(status(Lifecycle::Stopping, workers(2, 2)), Status::Fail);
    // Under a process launcher, the old generation serves through a reload.
    assert_eq!(status(Lifecycle::Reloading, workers(2, 4)), Status::Pass);
    assert_eq!(status(Lifecycle::Reloading, workers(0, 2)), Status::Fail);
    assert_eq!(status(Lifecycle::Running, workers(0, 2)), Status::Fail);
    assert_eq!(status(Lifecycle::Running, Some(None)), Status::Fail);
}

#[test]
fn liveness_fails_only_for_a_loop_that_does_not_answer_or_every_worker_hung() {
    let now = at();
    let status = |workers| liveness("running", workers, now).status_for_tests();
    let workers = |alive, hung| {
        Some(Some(Workers {
            ready: alive - hung,
            alive,
            hung,
        }))
    };
    assert_eq!(status(None), Status::Pass);
    assert_eq!(status(workers(2, 0)), Status::Pass);
    assert_eq!(status(workers(2, 1)), Status::Pass);
    assert_eq!(status(workers(2, 2)), Status::Fail);
    // Between a worker's exit and its replacement: none alive is not none answering.
    assert_eq!(status(workers(0, 0)), Status::Pass);
    assert_eq!(status(Some(None)), Status::Fail);
}

#[tokio::test]
async fn a_check_is_cached_times_out_and_its_panic_is_a_failure() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    let runs = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&runs);
    register(
        Check::new("tests-cached", move || {
            counted.fetch_add(1, Ordering::SeqCst);
            async { Err::<(), BoxError>("no route to postgres://nova:s3cret@db/nova".into()) }
        })
        .cache_for(Duration::from_secs(3600)),
    );
    register(
        Check::new("tests-slow", || async {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok::<(), BoxError>(())
        })
        .timeout(Duration::from_millis(50)),
    );
    register(Check::new("tests-panics", || async {
        panic!("on purpose");
        #[allow(unreachable_code)]
        Ok::<(), BoxError>(())
    }));
    for _ in 0..3 {
        let entries = checks::run_all().await;
        let output = |name: &str| {
            entries
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, e)| e.output_for_tests().to_owned())
                .unwrap()
        };
        assert_eq!(
            output("tests-cached:check"),
            "no route to postgres://nova:****@db/nova"
        );
        assert_eq!(output("tests-slow:check"), "no answer within 50ms");
        assert_eq!(output("tests-panics:check"), "the check panicked");
    }
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

use crate::error::BoxError;
