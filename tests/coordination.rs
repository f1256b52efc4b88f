//! `oslo::coordination` against a real etcd (started by each test on free loopback
//! ports): locks and their loss, group membership and its watch, leader election and
//! its hand-over, the hash ring as members come and go. Each coordinator here is one
//! host.

mod support;

use std::time::Duration;

use oslo::config::Snapshot;
use oslo::coordination::{Coordinator, GroupEvent};
use support::etcd::Etcd;

const WITHIN: Duration = Duration::from_secs(10);

fn host(etcd: &Etcd, member: &str) -> Coordinator {
    host_beating(etcd, member, "200ms", "2s")
}

fn host_beating(etcd: &Etcd, member: &str, heartbeat: &str, lease_ttl: &str) -> Coordinator {
    let ini = format!(
        "[coordination]\nbackend_url = {}\nmember_id = {member}\ngroup = pool\n\
         heartbeat = {heartbeat}\nlease_ttl = {lease_ttl}\n",
        etcd.url()
    );
    let conf = oslo::Config::from_snapshot(Snapshot::from_ini(&ini, None).unwrap());
    Coordinator::connect(&conf)
        .unwrap()
        .expect("backend_url is set")
}

async fn joined(etcd: &Etcd, member: &str) -> Coordinator {
    let coordinator = host(etcd, member);
    assert!(
        coordinator.wait_for_lease(WITHIN).await,
        "no lease for {member}"
    );
    coordinator
}

/// Polls `done` every 50 ms until it holds, or fails after [`WITHIN`].
async fn eventually(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WITHIN;
    while !done().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_lock_is_held_by_one_host_at_a_time_and_passes_on_release() {
    let etcd = Etcd::start();
    let (a, b) = (joined(&etcd, "a").await, joined(&etcd, "b").await);
    let guard = a.lock("purge").await.unwrap();
    assert!(b.try_lock("purge").await.unwrap().is_none());
    let waiting = tokio::spawn({
        let b = b.clone();
        async move { b.lock("purge").await.map(|guard| guard.is_lost()) }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiting.is_finished(), "b took a held lock");
    assert!(!guard.is_lost());
    drop(guard);
    let lost = tokio::time::timeout(WITHIN, waiting)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(!lost);
    a.leave().await;
    b.leave().await;
}

#[tokio::test]
async fn a_lock_is_lost_when_its_lease_runs_out() {
    let mut etcd = Etcd::start();
    let a = joined(&etcd, "a").await;
    let guard = a.lock("purge").await.unwrap();
    etcd.stop();
    tokio::time::timeout(WITHIN, guard.lost())
        .await
        .expect("the guard says it lost the lock");
    assert!(guard.is_lost());
    etcd.resume();
    // Back with etcd, a new lease: the lock is free for whoever asks (the old key went
    // with the old lease, or goes when it expires).
    assert!(a.wait_for_lease(WITHIN).await);
    drop(guard);
    eventually("the lock taken again", async || {
        matches!(a.try_lock("purge").await, Ok(Some(_)))
    })
    .await;
    a.leave().await;
}

#[tokio::test]
async fn members_watch_and_leadership_follow_joins_and_leaves() {
    let etcd = Etcd::start();
    let a = joined(&etcd, "a").await;
    eventually("a leads", async || a.is_leader("pool")).await;
    let mut events = a.watch_group("pool").await.unwrap();
    let b = joined(&etcd, "b").await;
    let joined_b = tokio::time::timeout(WITHIN, events.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(joined_b, GroupEvent::Joined("b".into()));
    assert_eq!(
        a.members("pool")
            .await
            .unwrap()
            .into_iter()
            .collect::<Vec<_>>(),
        ["a", "b"]
    );
    assert!(!b.is_leader("pool"));
    assert_eq!(b.leader("pool").await.unwrap().as_deref(), Some("a"));

    // A graceful leave hands the leadership over at b's next heartbeat.
    a.leave().await;
    eventually("b leads", async || b.is_leader("pool")).await;
    let c = joined(&etcd, "c").await;
    let mut seen = Vec::new();
    let mut watch = c.watch_group("pool").await.unwrap();
    b.leave().await;
    while seen.is_empty() {
        seen.push(
            tokio::time::timeout(WITHIN, watch.recv())
                .await
                .unwrap()
                .unwrap(),
        );
    }
    assert_eq!(seen, [GroupEvent::Left("b".into())]);
    eventually("c leads", async || c.is_leader("pool")).await;
    c.leave().await;
}

#[tokio::test]
async fn the_ring_is_shared_without_overlap_and_rebalances() {
    let etcd = Etcd::start();
    let hosts = [
        joined(&etcd, "a").await,
        joined(&etcd, "b").await,
        joined(&etcd, "c").await,
    ];
    let items: Vec<String> = (0..300).map(|i| format!("volume-{i}")).collect();
    let mut rings = Vec::new();
    for host in &hosts {
        rings.push(host.partitioner("pool").await.unwrap());
    }
    let owners = |rings: &[oslo::coordination::Partitioner]| -> Vec<usize> {
        items
            .iter()
            .map(|item| {
                rings
                    .iter()
                    .filter(|ring| ring.belongs_to_self(item))
                    .count()
            })
            .collect()
    };
    // Every item has exactly one owner, and each host has some.
    assert!(owners(&rings).iter().all(|&n| n == 1));
    for ring in &rings {
        assert!(items.iter().filter(|i| ring.belongs_to_self(i)).count() > 30);
    }
    let [a, b, c] = hosts;
    c.leave().await;
    let survivors = &rings[..2];
    eventually("c's items taken over", async || {
        owners(survivors).iter().all(|&n| n == 1)
    })
    .await;
    assert_eq!(survivors[0].members_for("volume-7", 3).len(), 2);
    a.leave().await;
    b.leave().await;
}

#[tokio::test]
async fn a_graceful_leave_hands_leadership_over_at_once_not_at_the_next_heartbeat() {
    let etcd = Etcd::start();
    // Heartbeats 20 s apart: whatever happens within a few seconds is not theirs.
    let a = host_beating(&etcd, "a", "20s", "60s");
    assert!(a.wait_for_lease(WITHIN).await);
    eventually("a leads", async || a.is_leader("pool")).await;
    let b = host_beating(&etcd, "b", "20s", "60s");
    assert!(b.wait_for_lease(WITHIN).await);
    assert!(!b.is_leader("pool"));
    // b's watch of the leader key is in place once its first campaign is done.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let left = tokio::time::Instant::now();
    a.leave().await;
    eventually("b leads", async || b.is_leader("pool")).await;
    assert!(
        left.elapsed() < Duration::from_secs(5),
        "took {:?}",
        left.elapsed()
    );
    assert_eq!(b.leader("pool").await.unwrap().as_deref(), Some("b"));
    b.leave().await;
}

#[tokio::test]
async fn a_waiting_host_takes_a_released_lock_at_once() {
    let etcd = Etcd::start();
    // Heartbeats 20 s apart: the waiter learns of the release from etcd, not by a retry.
    let a = host_beating(&etcd, "a", "20s", "60s");
    let b = host_beating(&etcd, "b", "20s", "60s");
    assert!(a.wait_for_lease(WITHIN).await && b.wait_for_lease(WITHIN).await);
    let guard = a.lock("purge").await.unwrap();
    let waiting = tokio::spawn({
        let b = b.clone();
        async move { b.lock("purge").await.map(|guard| guard.is_lost()) }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!waiting.is_finished());
    let released = tokio::time::Instant::now();
    drop(guard);
    let lost = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("b took the lock within 5 s of its release")
        .unwrap()
        .unwrap();
    assert!(!lost);
    assert!(released.elapsed() < Duration::from_secs(5));
    a.leave().await;
    b.leave().await;
}

/// A group watch broken by an outage resumes after the last change it saw: a join and a
/// leave made while it was down are delivered, in order.
#[tokio::test]
async fn a_group_watch_replays_what_happened_while_it_was_down() {
    let mut etcd = Etcd::start();
    // Three seconds between two tries of the watch: room for a join and a leave.
    let a = host_beating(&etcd, "a", "3s", "10s");
    assert!(a.wait_for_lease(WITHIN).await);
    let mut events = a.watch_group("pool").await.unwrap();
    // The watch connects, then sees etcd go (this test's thread blocks while etcd stops
    // and starts: the watch's task runs only when the test awaits).
    tokio::time::sleep(Duration::from_millis(500)).await;
    etcd.stop();
    tokio::time::sleep(Duration::from_millis(500)).await;
    etcd.resume();
    let b = joined(&etcd, "b").await;
    b.leave().await;
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let event = tokio::time::timeout(WITHIN, events.recv())
            .await
            .expect("the gap's changes delivered")
            .unwrap();
        seen.push(event);
    }
    assert_eq!(
        seen,
        [GroupEvent::Joined("b".into()), GroupEvent::Left("b".into())]
    );
    a.leave().await;
}

/// Names inside keys are escaped: group `x` does not list the members of group `x/y`,
/// and a member id with a `/` is one member.
#[tokio::test]
async fn names_with_slashes_stay_apart() {
    let etcd = Etcd::start();
    let a = joined(&etcd, "a").await;
    let b = joined(&etcd, "rack-1/b").await;
    a.join_group("x").await.unwrap();
    b.join_group("x/y").await.unwrap();
    let members = |group: &'static str| {
        let a = a.clone();
        async move {
            a.members(group)
                .await
                .unwrap()
                .into_iter()
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(members("x").await, ["a"]);
    assert_eq!(members("x/y").await, ["rack-1/b"]);
    let mut events = a.watch_group("x/y").await.unwrap();
    b.leave_group("x/y").await.unwrap();
    let left = tokio::time::timeout(WITHIN, events.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(left, GroupEvent::Left("rack-1/b".into()));
    a.leave().await;
    b.leave().await;
}

/// Three etcd members, and the one in use (the first of the URL) SIGKILLed: calls and
/// watches move to the others; the lock's holder keeps it alone, each period is still
/// claimed by exactly one host, and the group watch goes on.
#[tokio::test]
async fn with_three_members_the_death_of_the_one_in_use_changes_nothing() {
    use support::etcd::EtcdCluster;
    let mut cluster = EtcdCluster::start(3);
    let url = cluster.url();
    let connect = |member: &str| {
        let ini = format!(
            "[coordination]\nbackend_url = {url}\nmember_id = {member}\ngroup = pool\n\
             heartbeat = 200ms\nlease_ttl = 3s\n"
        );
        let conf = oslo::Config::from_snapshot(Snapshot::from_ini(&ini, None).unwrap());
        Coordinator::connect(&conf).unwrap().unwrap()
    };
    let (a, b) = (connect("a"), connect("b"));
    assert!(a.wait_for_lease(WITHIN).await && b.wait_for_lease(WITHIN).await);
    let guard = a.lock("purge").await.unwrap();
    let mut events = b.watch_group("pool").await.unwrap();

    // Each period, both ask: never two get it, and once etcd has a leader, one does.
    // (While the members elect a new leader, a claim may fail: that period is skipped.)
    let one_winner_per_period = async |a: &Coordinator, b: &Coordinator, rounds: usize| {
        let mut settled = 0;
        for round in 0..rounds {
            // At a whole second: the period both name is the same, whatever the skew.
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap();
            tokio::time::sleep(Duration::from_millis(1000 - u64::from(now.subsec_millis()))).await;
            let (ra, rb) = tokio::join!(
                a.claim("sweep", Duration::from_secs(1)),
                b.claim("sweep", Duration::from_secs(1))
            );
            let winners = [ra, rb]
                .into_iter()
                .filter_map(Result::ok)
                .flatten()
                .count();
            assert!(winners <= 1, "two winners in round {round}");
            settled = if winners == 1 { settled + 1 } else { 0 };
        }
        assert!(
            settled >= 2,
            "the claims did not settle on one winner a period"
        );
    };
    one_winner_per_period(&a, &b, 2).await;

    cluster.kill(0);
    one_winner_per_period(&a, &b, 6).await;
    // The holder is still alone, its lease renewed through the others.
    assert!(b.try_lock("purge").await.unwrap().is_none());
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(
        !guard.is_lost(),
        "the lease ran out with one member of three gone"
    );
    assert!(b.try_lock("purge").await.unwrap().is_none());
    // The watch goes on.
    let c = connect("c");
    assert!(c.wait_for_lease(WITHIN).await);
    let joined = tokio::time::timeout(WITHIN, async {
        loop {
            if let Some(GroupEvent::Joined(member)) = events.recv().await {
                if member == "c" {
                    return;
                }
            }
        }
    })
    .await;
    assert!(joined.is_ok(), "the watch stopped with the member");
    drop(guard);
    for host in [a, b, c] {
        host.leave().await;
    }
}

/// Three etcd members, and the one a group watch is on frozen (SIGSTOP: its connections
/// stay open, nothing comes): the watch notices (its member does not answer a check)
/// and resumes on another member from where it was, so a join made meanwhile is
/// delivered.
#[tokio::test]
async fn a_group_watch_on_a_frozen_member_moves_to_another() {
    use support::etcd::EtcdCluster;
    let cluster = EtcdCluster::start(3);
    let connect = |url: &str, member: &str| {
        let ini = format!(
            "[coordination]\nbackend_url = {url}\nmember_id = {member}\ngroup = pool\n\
             heartbeat = 200ms\nlease_ttl = 3s\n"
        );
        let conf = oslo::Config::from_snapshot(Snapshot::from_ini(&ini, None).unwrap());
        Coordinator::connect(&conf).unwrap().unwrap()
    };
    // a watches through the first member.
    let a = connect(&cluster.url(), "a");
    assert!(a.wait_for_lease(WITHIN).await);
    let mut events = a.watch_group("pool").await.unwrap();
    async fn joined(events: &mut tokio::sync::mpsc::UnboundedReceiver<GroupEvent>, who: &str) {
        loop {
            if let Some(GroupEvent::Joined(member)) = events.recv().await {
                if member == who {
                    return;
                }
            }
        }
    }
    // The others reach the cluster through the other two members only.
    let others = cluster.url_of(&[1, 2]);
    let b = connect(&others, "b");
    assert!(b.wait_for_lease(WITHIN).await);
    // b's join came through: the watch is in place on the first member.
    tokio::time::timeout(WITHIN, joined(&mut events, "b"))
        .await
        .expect("b's join seen");
    cluster.pause(0);
    let c = connect(&others, "c");
    assert!(c.wait_for_lease(WITHIN).await);
    // Within the watch's check (10 s without a change, 3 s for the member's answer),
    // with room for a busy machine.
    let seen = tokio::time::timeout(Duration::from_secs(40), joined(&mut events, "c")).await;
    cluster.unpause(0);
    assert!(seen.is_ok(), "the watch stayed on the frozen member");
    for host in [a, b, c] {
        host.leave().await;
    }
}

/// When etcd has compacted the history a broken group watch would resume from, the
/// members are read afresh and the difference is delivered: a host that joined in the
/// gap is announced all the same.
#[tokio::test]
async fn a_group_watch_behind_a_compaction_reads_the_members_afresh() {
    let mut etcd = Etcd::start();
    // Eight seconds between two tries of the watch: the gap, and the compaction, come
    // first.
    let a = host_beating(&etcd, "a", "8s", "30s");
    assert!(a.wait_for_lease(WITHIN).await);
    let mut events = a.watch_group("pool").await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let broken = std::time::Instant::now();
    etcd.stop();
    tokio::time::sleep(Duration::from_millis(500)).await;
    etcd.resume();
    let b = joined(&etcd, "b").await;
    // More history, then all of it compacted away.
    for _ in 0..3 {
        b.leave_group("pool").await.unwrap();
        b.join_group("pool").await.unwrap();
    }
    etcd.compact();
    assert!(
        broken.elapsed() < Duration::from_secs(7),
        "the gap took too long for this test's timing"
    );
    let event = tokio::time::timeout(Duration::from_secs(20), events.recv())
        .await
        .expect("the gap's outcome delivered")
        .unwrap();
    assert_eq!(event, GroupEvent::Joined("b".into()));
    a.leave().await;
    b.leave().await;
}
