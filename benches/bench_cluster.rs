//! The Rust side of `benches/cluster.sh`'s overhead figure: what a cluster-scoped task's
//! run costs beyond a local one, which is the claim of its period in etcd. Connects as
//! a member with CONFIG's `[coordination]`, then times RUNS claims that win (a fresh
//! task each time) and RUNS that lose (a period already claimed); prints the median and
//! the 99th percentile of each, in milliseconds.
//!
//! ```text
//! target/release/examples/bench_cluster CONFIG [RUNS]
//! ```

use std::time::{Duration, Instant};

fn percentile(samples: &mut [Duration], at: f64) -> f64 {
    samples.sort();
    let index = ((samples.len() as f64 - 1.0) * at).round() as usize;
    samples[index].as_secs_f64() * 1e3
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let file = args.next().ok_or("usage: bench_cluster CONFIG [RUNS]")?;
    let runs: usize = args.next().map_or(Ok(500), |n| n.parse())?;
    let conf = oslo::Config::load(oslo::config::ConfigSources::from_files([&file]))?;
    let coordinator = oslo::coordination::Coordinator::connect(&conf)?
        .ok_or("no [coordination] backend_url in the config")?;
    if !coordinator.wait_for_lease(Duration::from_secs(5)).await {
        return Err("no lease from etcd".into());
    }
    let every = Duration::from_secs(3600);
    let (mut won, mut lost) = (Vec::with_capacity(runs), Vec::with_capacity(runs));
    for run in 0..runs {
        let task = format!("bench-{}-{run}", std::process::id());
        let started = Instant::now();
        let first = coordinator.claim(&task, every).await?;
        won.push(started.elapsed());
        let started = Instant::now();
        let second = coordinator.claim(&task, every).await?;
        lost.push(started.elapsed());
        assert!(
            first.is_some() && second.is_none(),
            "claims: {first:?} then {second:?}"
        );
    }
    coordinator.leave().await;
    println!(
        "{:.3} {:.3} {:.3} {:.3}",
        percentile(&mut won, 0.5),
        percentile(&mut won, 0.99),
        percentile(&mut lost, 0.5),
        percentile(&mut lost, 0.99)
    );
    Ok(())
}
