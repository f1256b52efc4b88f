//! The Rust side of `benches/config.sh`: loads a configuration file the way a service
//! starts (`Config::load_with`, the runtime's groups checked), then reloads it the way
//! a SIGHUP does, `RUNS` times each; prints the median of each in milliseconds.
//!
//! ```text
//! target/release/examples/bench_config FILE [RUNS]
//! ```

use std::time::{Duration, Instant};

use oslo::config::ConfigSources;

fn median(mut samples: Vec<Duration>) -> f64 {
    samples.sort();
    samples[samples.len() / 2].as_secs_f64() * 1e3
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let file = args.next().ok_or("usage: bench_config FILE [RUNS]")?;
    let runs: usize = args.next().map_or(Ok(9), |n| n.parse())?;
    let mut loads = Vec::with_capacity(runs);
    let mut reloads = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        let conf = oslo::Config::load_with(ConfigSources::from_files([&file]), &[])?;
        loads.push(started.elapsed());
        let started = Instant::now();
        conf.reload()?;
        reloads.push(started.elapsed());
    }
    println!("{:.2} {:.2}", median(loads), median(reloads));
    Ok(())
}
