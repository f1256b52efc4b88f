//! The pool's rules, driven by tables of events: no process is started, no signal
//! sent, no time waited.

use super::*;

const GRACEFUL: Duration = Duration::from_secs(30);

/// A pool and the world around it: the state the launcher is in, the clock, the pids
/// handed out, and every signal the rules asked for.
struct World {
    pool: Pool,
    state: LauncherState,
    now: Instant,
    next_pid: i32,
    signals: Vec<(i32, Signal)>,
    settled: usize,
    /// `max_worker_lifetime` for the workers started from now on.
    lifetime: Option<Duration>,
}

impl World {
    fn new(services: &[(&str, usize)]) -> Self {
        World {
            pool: Pool::new(
                services
                    .iter()
                    .map(|(n, c)| ((*n).to_owned(), *c))
                    .collect(),
                Some(GRACEFUL),
            ),
            state: LauncherState::Starting,
            now: Instant::now(),
            next_pid: 100,
            signals: Vec::new(),
            settled: 0,
            lifetime: None,
        }
    }

    /// Carries out actions as the event loop would; a SIGKILL ends its worker at once.
    fn apply(&mut self, actions: Vec<Action>) {
        for action in actions {
            match action {
                Action::Start { pool, index } => {
                    self.next_pid += 1;
                    let recycle_at = self.lifetime.map(|lifetime| self.now + lifetime);
                    self.pool.started(
                        pool,
                        index,
                        self.next_pid,
                        SystemTime::UNIX_EPOCH,
                        recycle_at,
                    );
                }
                Action::Signal { pid, signal } => {
                    self.signals.push((pid, signal));
                    if signal == Signal::KILL {
                        self.pool.exited(pid);
                    }
                }
                Action::Settled { .. } => {
                    self.settled += 1;
                    self.state = LauncherState::Running;
                }
            }
        }
    }

    fn fill(&mut self) {
        let actions = self.pool.fill(self.state, self.now);
        self.apply(actions);
    }

    /// The pids of the current generation's live workers that are not retiring.
    fn current(&self) -> Vec<i32> {
        self.pool.current(None).map(|(&pid, _)| pid).collect()
    }

    fn ready(&mut self, pids: &[i32]) {
        for &pid in pids {
            let actions = self.pool.ready(pid, self.state, self.now);
            self.apply(actions);
        }
    }

    fn exit(&mut self, pid: i32) {
        assert!(self.pool.exited(pid).is_some(), "{pid} was no worker");
        self.fill();
    }

    fn advance(&mut self, by: Duration) {
        self.now += by;
        let actions = self.pool.tick(self.state, self.now);
        self.apply(actions);
        self.fill();
    }

    fn reload(&mut self, method: RestartMethod) {
        self.state = LauncherState::Reloading;
        let actions = self.pool.reload(method, self.now);
        self.apply(actions);
        self.fill();
    }

    fn signalled(&self, signal: Signal) -> Vec<i32> {
        self.signals
            .iter()
            .filter(|(_, s)| *s == signal)
            .map(|(pid, _)| *pid)
            .collect()
    }
}

/// Two services of two workers, started and ready.
fn running() -> World {
    let mut world = World::new(&[("api", 2), ("conductor", 2)]);
    world.fill();
    assert_eq!(world.current().len(), 4);
    assert_eq!(world.pool.readiness(), "0/4 workers ready");
    let pids = world.current();
    world.ready(&pids[..3]);
    assert_eq!(world.settled, 0, "settled before the last worker");
    world.ready(&pids[3..]);
    assert_eq!(world.settled, 1);
    assert_eq!(world.state, LauncherState::Running);
    world
}

#[test]
fn a_start_settles_once_every_worker_is_ready() {
    let world = running();
    assert!(world.signals.is_empty());
    assert_eq!(world.pool.readiness(), "4/4 workers ready");
}

#[test]
fn a_reload_retires_the_old_generation_once_the_new_one_is_ready() {
    let mut world = running();
    let old = world.current();
    world.reload(RestartMethod::Reload);
    let new = world.current();
    assert_eq!(new.len(), 4);
    assert!(new.iter().all(|pid| !old.contains(pid)));
    // Both generations serve meanwhile.
    assert_eq!(world.pool.workers().len(), 8);
    world.ready(&new);
    assert_eq!(world.settled, 2);
    assert_eq!(world.signalled(Signal::TERM), old);
    // A retiring worker that does not go is killed at its deadline, and not replaced.
    world.exit(old[0]);
    world.advance(GRACEFUL);
    assert_eq!(world.signalled(Signal::KILL), &old[1..]);
    assert_eq!(world.current(), new);
}

#[test]
fn a_reload_with_a_laggard_replaces_it_at_the_deadline_and_ends() {
    let mut world = running();
    let old = world.current();
    world.reload(RestartMethod::Reload);
    let new = world.current();
    world.ready(&new[1..]);
    assert_eq!(world.state, LauncherState::Reloading);
    world.advance(GRACEFUL - Duration::from_secs(1));
    assert!(world.signalled(Signal::KILL).is_empty());
    world.advance(Duration::from_secs(1));
    // The laggard is killed and replaced; the reload ends; the old generation retires.
    assert_eq!(world.signalled(Signal::KILL), [new[0]]);
    assert_eq!(world.state, LauncherState::Running);
    assert_eq!(world.signalled(Signal::TERM), old);
    let now = world.current();
    assert_eq!(now.len(), 4);
    assert!(!now.contains(&new[0]));
}

#[test]
fn a_worker_that_crashes_during_a_reload_is_replaced_and_counted() {
    let mut world = running();
    world.reload(RestartMethod::Reload);
    let new = world.current();
    world.exit(new[2]);
    let replaced = world.current();
    assert_eq!(replaced.len(), 4);
    let worker = &world.pool.workers()[replaced.last().unwrap()];
    assert_eq!(world.pool.restarts(worker.pool, worker.index), 1);
    world.ready(&replaced);
    assert_eq!(world.state, LauncherState::Running);
}

#[test]
fn sigterm_during_a_reload_stops_both_generations_and_starts_nothing() {
    let mut world = running();
    world.reload(RestartMethod::Reload);
    world.state = LauncherState::Stopping;
    let deadline = world.now + GRACEFUL;
    let actions = world.pool.stop(Some(deadline));
    world.apply(actions);
    assert_eq!(world.signalled(Signal::TERM).len(), 8);
    let first = world.current().first().copied();
    assert!(first.is_none(), "every worker is retiring");
    let any = *world.pool.workers().keys().next().unwrap();
    world.exit(any);
    assert_eq!(
        world.pool.workers().len(),
        7,
        "nothing replaced while stopping"
    );
    assert_eq!(world.pool.next_kill(), Some(deadline));
}

#[test]
fn ttin_and_ttou_in_the_middle_of_a_reload() {
    let mut world = running();
    let old = world.current();
    world.reload(RestartMethod::Reload);
    // One more for the api: the new generation gets three.
    let actions = world.pool.set_target(0, 3, world.now);
    world.apply(actions);
    world.fill();
    assert_eq!(world.pool.current(Some(0)).count(), 3);
    let new = world.current();
    world.ready(&new);
    assert_eq!(world.state, LauncherState::Running);
    assert_eq!(world.signalled(Signal::TERM), old);
    // Then one less: the highest index of the current generation stops.
    let actions = world.pool.set_target(0, 2, world.now);
    world.apply(actions);
    let stopped = *world.signalled(Signal::TERM).last().unwrap();
    assert_eq!(world.pool.workers()[&stopped].index, 2);
    assert_eq!(world.pool.current(Some(0)).count(), 2);
}

#[test]
fn mutate_asks_ready_workers_to_reread_and_retires_none() {
    let mut world = running();
    let pids = world.current();
    world.reload(RestartMethod::Mutate);
    assert_eq!(world.signalled(Signal::HUP), pids);
    assert_eq!(world.pool.readiness(), "0/4 workers ready");
    world.ready(&pids);
    assert_eq!(world.state, LauncherState::Running);
    assert!(world.signalled(Signal::TERM).is_empty());
    assert_eq!(world.current(), pids);
}

#[test]
fn a_worker_that_keeps_dying_is_restarted_at_the_fork_rate() {
    let mut world = World::new(&[("api", 1)]);
    world.fill();
    let mut restarts = 0;
    for _ in 0..10 {
        let Some(&pid) = world.current().first() else {
            break;
        };
        world.exit(pid);
        restarts += 1;
    }
    // More forks than workers within as many seconds: the pool waits.
    assert!(
        world.current().is_empty(),
        "restarted {restarts} times without a pause"
    );
    let due = world.pool.next_deadline().expect("a paused start is due");
    assert_eq!(due, world.now + PAUSE);
    world.advance(PAUSE);
    assert_eq!(world.current().len(), 1);
}

#[test]
fn a_worker_that_cannot_be_started_is_tried_again_after_a_pause() {
    let mut world = World::new(&[("api", 1)]);
    let actions = world.pool.fill(world.state, world.now);
    assert_eq!(actions, [Action::Start { pool: 0, index: 0 }]);
    world.pool.start_failed(0, world.now);
    assert!(world.pool.fill(world.state, world.now).is_empty());
    world.advance(PAUSE);
    assert_eq!(world.current().len(), 1);
}

#[test]
fn a_recycled_worker_serves_until_its_replacement_is_ready() {
    let mut world = running();
    let before = world.current();
    assert!(world.pool.recycle(before[0], "max_requests"));
    // Asked twice (more requests came): once is enough.
    assert!(!world.pool.recycle(before[0], "max_requests"));
    world.fill();
    let after = world.current();
    assert_eq!(after.len(), 4);
    let replacement = *after.iter().find(|pid| !before.contains(pid)).unwrap();
    let (old, new) = (
        &world.pool.workers()[&before[0]],
        &world.pool.workers()[&replacement],
    );
    assert_eq!((old.pool, old.index), (new.pool, new.index));
    // Both serve until the replacement is ready: nothing is signalled before.
    assert!(world.signals.is_empty());
    world.ready(&[replacement]);
    assert_eq!(world.signalled(Signal::TERM), [before[0]]);
    // It retires like any: killed at its deadline if it stays, and not replaced again.
    world.advance(GRACEFUL);
    assert_eq!(world.signalled(Signal::KILL), [before[0]]);
    assert_eq!(world.current().len(), 4);
}

#[test]
fn a_worker_past_its_lifetime_is_recycled_and_never_during_a_reload() {
    let mut world = World::new(&[("api", 2)]);
    world.lifetime = Some(Duration::from_secs(100));
    world.fill();
    let first = world.current();
    world.ready(&first);
    assert_eq!(
        world.pool.next_deadline(),
        Some(world.now + Duration::from_secs(100))
    );
    world.advance(Duration::from_secs(99));
    assert_eq!(world.current(), first);
    world.advance(Duration::from_secs(1));
    // Both recycled: two replacements start, and the old ones retire once they are ready.
    let second: Vec<i32> = world
        .current()
        .into_iter()
        .filter(|p| !first.contains(p))
        .collect();
    assert_eq!(second.len(), 2);
    world.ready(&second);
    assert_eq!(world.signalled(Signal::TERM), first);
    // Past their lifetime during a reload: the reload's generation replaces them anyway.
    world.reload(RestartMethod::Reload);
    world.advance(Duration::from_secs(100));
    assert!(
        world.pool.workers().values().all(|w| !w.recycling),
        "nothing recycled while reloading"
    );
}

#[test]
fn a_worker_past_its_lifetime_during_a_mutate_reload_is_recycled_once_it_is_over() {
    let mut world = World::new(&[("api", 2)]);
    world.lifetime = Some(Duration::from_secs(100));
    world.fill();
    let first = world.current();
    world.ready(&first);
    world.advance(Duration::from_secs(90));
    world.reload(RestartMethod::Mutate);
    // Past their lifetime while they re-read: not now.
    world.advance(Duration::from_secs(10));
    assert_eq!(world.state, LauncherState::Reloading);
    assert!(world.pool.workers().values().all(|w| !w.recycling));
    // Nor does the clock come back for them at once, again and again.
    assert!(
        world.pool.next_deadline().is_none_or(|at| at > world.now),
        "a deadline in the past: the event loop would spin"
    );
    // The reload is over: both are replaced, new before old.
    world.ready(&first);
    assert_eq!(world.state, LauncherState::Running);
    world.advance(Duration::ZERO);
    let second: Vec<i32> = world
        .current()
        .into_iter()
        .filter(|p| !first.contains(p))
        .collect();
    assert_eq!(second.len(), 2);
    world.ready(&second);
    assert_eq!(world.signalled(Signal::TERM), first);
}

#[test]
fn a_silent_worker_is_aborted_then_killed_unless_it_was_reaped_meanwhile() {
    let mut world = running();
    let pids = world.current();
    // The first one dies of its SIGABRT and is reaped before the grace ends.
    let action = world.pool.abort(pids[0], world.now);
    world.apply(action.into_iter().collect());
    assert_eq!(world.signalled(Signal::ABORT), [pids[0]]);
    world.advance(Duration::from_secs(1));
    world.exit(pids[0]);
    world.advance(ABORT_GRACE);
    assert!(
        world.signalled(Signal::KILL).is_empty(),
        "SIGKILL sent to a reaped pid"
    );
    // The second one stays: killed once the grace is over, and replaced as crashed.
    let action = world.pool.abort(pids[1], world.now);
    world.apply(action.into_iter().collect());
    // Reported twice: aborted once.
    assert!(world.pool.abort(pids[1], world.now).is_none());
    world.advance(ABORT_GRACE - Duration::from_secs(1));
    assert!(world.signalled(Signal::KILL).is_empty());
    world.advance(Duration::from_secs(1));
    assert_eq!(world.signalled(Signal::KILL), [pids[1]]);
    assert_eq!(world.signalled(Signal::ABORT), &pids[..2]);
    assert_eq!(world.current().len(), 4, "both replaced");
    // One gone already is not aborted at all.
    assert!(world.pool.abort(pids[0], world.now).is_none());
}

#[test]
fn an_aborted_worker_keeps_its_early_kill_when_the_stop_comes() {
    let mut world = running();
    let pids = world.current();
    let action = world.pool.abort(pids[0], world.now);
    world.apply(action.into_iter().collect());
    world.state = LauncherState::Stopping;
    let actions = world.pool.stop(Some(world.now + GRACEFUL));
    world.apply(actions);
    assert_eq!(world.pool.next_kill(), Some(world.now + ABORT_GRACE));
}

#[test]
fn a_recycle_asked_during_a_mutate_reload_is_done_once_it_is_over() {
    let mut world = running();
    let before = world.current();
    world.reload(RestartMethod::Mutate);
    // It served its max_requests while re-reading: nothing is replaced yet.
    assert!(
        !world
            .pool
            .ask_recycle(before[0], "max_requests", world.state)
    );
    world.fill();
    assert_eq!(world.current(), before);
    // The reload is over: now it is.
    world.ready(&before);
    assert_eq!(world.state, LauncherState::Running);
    world.fill();
    let after = world.current();
    let replacement = *after.iter().find(|pid| !before.contains(pid)).unwrap();
    world.ready(&[replacement]);
    assert_eq!(world.signalled(Signal::TERM), [before[0]]);
}

#[test]
fn a_recycle_asked_during_a_reload_by_either_generation() {
    let mut world = running();
    let old = world.current();
    world.reload(RestartMethod::Reload);
    let new = world.current();
    world.ready(&new[..3]);
    // An old worker asks: it retires with its generation, no more.
    world.pool.ask_recycle(old[0], "max_requests", world.state);
    // A new worker that serves already asks: replaced once the reload is over.
    world.pool.ask_recycle(new[0], "max_requests", world.state);
    world.ready(&new[3..]);
    assert_eq!(world.state, LauncherState::Running);
    assert_eq!(world.signalled(Signal::TERM), old);
    world.fill();
    let now = world.current();
    assert_eq!(now.len(), 4);
    let replacement = *now.iter().find(|pid| !new.contains(pid)).unwrap();
    assert_eq!(
        world.pool.workers()[&replacement].index,
        world.pool.workers()[&new[0]].index
    );
    world.ready(&[replacement]);
    assert_eq!(
        world.signalled(Signal::TERM),
        [&old[..], &[new[0]]].concat()
    );
}

#[test]
fn a_worker_past_max_worker_memory_is_replaced_new_before_old_and_once() {
    const LIMIT: u64 = 512 << 20;
    let mut world = running();
    let before = world.current();
    // At the limit is not past it.
    assert!(!world.pool.measured(before[0], LIMIT, LIMIT, world.state));
    assert_eq!(world.pool.to_measure().len(), 4);
    assert!(
        world
            .pool
            .measured(before[0], LIMIT + 1, LIMIT, world.state)
    );
    // Not measured again, nor asked again if it were.
    assert!(!world.pool.to_measure().contains(&before[0]));
    assert!(
        !world
            .pool
            .measured(before[0], 2 * LIMIT, LIMIT, world.state)
    );
    world.fill();
    let after = world.current();
    assert_eq!(after.len(), 4);
    let replacement = *after.iter().find(|pid| !before.contains(pid)).unwrap();
    assert_eq!(
        world.pool.workers()[&replacement].index,
        world.pool.workers()[&before[0]].index
    );
    // It serves until its replacement is ready.
    assert!(world.signals.is_empty());
    world.ready(&[replacement]);
    assert_eq!(world.signalled(Signal::TERM), [before[0]]);
}

#[test]
fn a_worker_past_max_worker_memory_during_a_reload_is_replaced_once_it_is_over() {
    let mut world = running();
    let before = world.current();
    world.reload(RestartMethod::Mutate);
    assert!(world.pool.measured(before[1], 2, 1, world.state));
    assert!(!world.pool.to_measure().contains(&before[1]));
    world.fill();
    assert_eq!(world.current(), before);
    world.ready(&before);
    assert_eq!(world.state, LauncherState::Running);
    world.fill();
    let replacement = *world
        .current()
        .iter()
        .find(|pid| !before.contains(pid))
        .unwrap();
    world.ready(&[replacement]);
    assert_eq!(world.signalled(Signal::TERM), [before[1]]);
    // While stopping, nothing is asked.
    world.state = LauncherState::Stopping;
    assert!(!world.pool.measured(before[2], 2, 1, world.state));
}

#[test]
fn a_recycle_asked_while_stopping_changes_nothing() {
    let mut world = running();
    let pids = world.current();
    world.state = LauncherState::Stopping;
    let actions = world.pool.stop(Some(world.now + GRACEFUL));
    world.apply(actions);
    assert!(!world.pool.ask_recycle(pids[0], "max_requests", world.state));
    world.fill();
    assert_eq!(
        world.pool.workers().len(),
        4,
        "nothing started while stopping"
    );
}

/// SIGTTIN and SIGTTOU, one after another, against a service without bounds (from 1), a
/// service that runs exactly once and one of 2 to 3 workers: a service at its bound is
/// left alone, the others still change, and the live workers follow the counts.
#[test]
fn ttin_and_ttou_keep_each_service_within_its_bounds() {
    #[derive(Clone, Copy, Debug)]
    enum Event {
        Ttin,
        Ttou,
    }
    use Event::{Ttin, Ttou};
    let mut world = World::new(&[("api", 2), ("flusher", 1), ("conductor", 2)]);
    world.pool.set_bounds(1, 1..=1);
    world.pool.set_bounds(2, 2..=3);
    world.fill();
    let pids = world.current();
    world.ready(&pids);
    assert_eq!(world.state, LauncherState::Running);
    // The targets of api, flusher and conductor after each event.
    let table = [
        (Ttin, [3, 1, 3]),
        (Ttin, [4, 1, 3]),
        (Ttou, [3, 1, 2]),
        (Ttou, [2, 1, 2]),
        (Ttou, [1, 1, 2]),
        (Ttou, [1, 1, 2]),
        (Ttin, [2, 1, 3]),
    ];
    for (step, (event, targets)) in table.into_iter().enumerate() {
        let actions = match event {
            Ttin => world.pool.add_worker(world.now),
            Ttou => world.pool.remove_worker(world.now),
        };
        world.apply(actions);
        // Past the fork rate's window: every wanted worker starts.
        world.advance(Duration::from_secs(5));
        for (pool, target) in targets.into_iter().enumerate() {
            assert_eq!(
                world.pool.target(pool),
                target,
                "step {step} ({event:?}), service {pool}"
            );
            assert_eq!(
                world.pool.current(Some(pool)).count(),
                target,
                "step {step} ({event:?}): live workers of service {pool}"
            );
        }
    }
}
