//! `Services` and `launch` in process: start failures, stop, wait and restart.

use std::sync::{Arc, Mutex};

use oslo::{BoxFuture, Config, Context, Error, ServiceBase, Services};

/// A service that records its hooks in a shared journal.
struct Recorder {
    name: &'static str,
    fail_start: bool,
    journal: Arc<Mutex<Vec<String>>>,
}

impl Recorder {
    fn new(name: &'static str, journal: &Arc<Mutex<Vec<String>>>) -> Self {
        Recorder {
            name,
            fail_start: false,
            journal: Arc::clone(journal),
        }
    }

    fn note(&self, event: &str) {
        self.journal
            .lock()
            .unwrap()
            .push(format!("{} {event}", self.name));
    }
}

impl ServiceBase for Recorder {
    fn name(&self) -> &str {
        self.name
    }

    fn start<'a>(&'a self, cx: &'a Context) -> BoxFuture<'a, oslo::Result<()>> {
        Box::pin(async move {
            if self.fail_start {
                return Err(Error::msg("refused"));
            }
            let token = cx.shutdown_token();
            let journal = Arc::clone(&self.journal);
            let name = self.name;
            cx.spawn(async move {
                token.cancelled().await;
                journal.lock().unwrap().push(format!("{name} task done"));
            });
            self.note("start");
            Ok(())
        })
    }

    fn stop<'a>(&'a self, cx: &'a Context) -> BoxFuture<'a, oslo::Result<()>> {
        Box::pin(async move {
            assert!(
                cx.is_stopping(),
                "the token is cancelled before the stop hook"
            );
            self.note("stop");
            Ok(())
        })
    }

    fn reset<'a>(&'a self, cx: &'a Context) -> BoxFuture<'a, oslo::Result<()>> {
        Box::pin(async move {
            assert!(!cx.is_stopping(), "reset sees the fresh context");
            self.note("reset");
            Ok(())
        })
    }
}

fn journal() -> Arc<Mutex<Vec<String>>> {
    Arc::default()
}

fn entries(journal: &Arc<Mutex<Vec<String>>>) -> Vec<String> {
    let mut entries = journal.lock().unwrap().clone();
    entries.sort();
    entries
}

#[tokio::test]
async fn launch_refuses_zero_workers() {
    let err = oslo::launch(Config::default(), Recorder::new("a", &journal()), 0)
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "number of workers should be positive");
}

// `launch` with more than one worker runs worker processes: tests/workers.rs at the
// workspace root drives them as real processes. Here, only what fails before a fork.
#[tokio::test]
async fn the_process_launcher_checks_worker_counts_and_service_names() {
    let mut launcher = oslo::ProcessLauncher::new(Config::default())
        .launch_service(Recorder::new("a", &journal()), 2);
    let err = launcher.set_workers("a", 0).unwrap_err();
    assert_eq!(err.to_string(), "number of workers should be positive");
    let err = launcher.set_workers("b", 3).unwrap_err();
    assert_eq!(err.to_string(), "no service named 'b'");
    launcher.set_workers("a", 3).unwrap();

    let handle = launcher.handle();
    assert!(handle.set_workers("b", 1).is_err());
    handle.set_workers("a", 4).unwrap();
    drop(launcher);
    let err = handle.set_workers("a", 4).unwrap_err();
    assert_eq!(err.to_string(), "the launcher is not running");

    let err = oslo::ProcessLauncher::new(Config::default())
        .launch_service(Recorder::new("a", &journal()), 0)
        .run()
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "number of workers should be positive");
}

#[tokio::test]
async fn a_failing_start_stops_the_services_that_started() {
    let journal = journal();
    let mut services = Services::new(Config::default());
    services.add(Arc::new(Recorder::new("good", &journal)));
    services.add(Arc::new(Recorder {
        fail_start: true,
        ..Recorder::new("bad", &journal)
    }));

    let err = services.start().await.unwrap_err();
    assert_eq!(err.to_string(), "service bad failed to start: refused");
    services.wait().await;
    assert_eq!(
        entries(&journal),
        ["bad stop", "good start", "good stop", "good task done"]
    );
}

#[tokio::test]
async fn wait_returns_once_stopped_services_finished_their_tasks() {
    let journal = journal();
    let mut services = Services::new(Config::default());
    services.add(Arc::new(Recorder::new("a", &journal)));
    services.add(Arc::new(Recorder::new("b", &journal)));
    services.start().await.unwrap();
    services.stop().await;
    services.wait().await;
    assert_eq!(
        entries(&journal),
        [
            "a start",
            "a stop",
            "a task done",
            "b start",
            "b stop",
            "b task done"
        ]
    );
}

#[tokio::test]
async fn restart_stops_resets_and_starts_with_a_fresh_context() {
    let journal = journal();
    let mut services = Services::new(Config::default());
    services.add(Arc::new(Recorder::new("a", &journal)));
    services.start().await.unwrap();
    services.restart().await.unwrap();
    assert_eq!(
        journal.lock().unwrap().clone(),
        ["a start", "a stop", "a task done", "a reset", "a start"]
    );
    // The restarted service's task waits on the new, uncancelled token.
    services.stop().await;
    services.wait().await;
    assert_eq!(
        entries(&journal)
            .iter()
            .filter(|e| *e == "a task done")
            .count(),
        2
    );
}

#[test]
fn restart_method_parses_its_two_names() {
    assert_eq!(
        "reload".parse::<oslo::RestartMethod>().unwrap(),
        oslo::RestartMethod::Reload
    );
    assert_eq!(
        "mutate".parse::<oslo::RestartMethod>().unwrap(),
        oslo::RestartMethod::Mutate
    );
    let err = "restart".parse::<oslo::RestartMethod>().unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid restart_method 'restart': expected 'reload' or 'mutate'"
    );
}
