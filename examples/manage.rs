//! `manage`: a program with flags and sub-commands of its own beside the service's
//! (`--config-file`, `#[opt(cli)]` options), as `nova-manage db sync` is.
//!
//! ```text
//! cargo run --bin manage -- --config-file examples/hello.conf greet --times 2
//! cargo run --bin manage -- --manage-greeting bonjour greet
//! cargo run --bin manage -- --help
//! cargo run --bin manage -- wait --seconds 60      # Ctrl-C ends it, as any CLI
//! cargo run --bin manage -- migrate --steps 100    # Ctrl-C stops it cleanly
//! ```
//!
//! No launcher runs here, so SIGINT, SIGTERM and SIGHUP act as they do on any program
//! (`wait` ends by the signal), unless the program handles one itself, as `migrate`
//! handles Ctrl-C to stop between two steps.

use clap::{Parser, Subcommand};

/// The program's own command line.
#[derive(Parser)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Prints the greeting.
    Greet {
        /// How many times.
        #[arg(long, default_value_t = 1)]
        times: u32,
    },
    /// Prints the configuration files read.
    Files,
    /// Waits, as a long job would, and says when it is done.
    Wait {
        /// How long.
        #[arg(long, default_value_t = 60)]
        seconds: u64,
    },
    /// Runs steps one after another; Ctrl-C stops it between two steps.
    Migrate {
        /// How many steps.
        #[arg(long, default_value_t = 100)]
        steps: u32,
    },
}

/// Options of the `[manage]` group.
#[oslo::options(group = "manage", namespace = "manage")]
struct ManageOpts {
    /// What `greet` prints.
    #[opt(default = "hello", cli)]
    greeting: String,
}

#[oslo::main(options = [ManageOpts], cli = Args)]
async fn main(conf: oslo::Config, args: Args) -> oslo::Result<()> {
    match args.command {
        Command::Greet { times } => {
            let greeting = &conf.group::<ManageOpts>()?.greeting;
            for _ in 0..times {
                println!("{greeting}");
            }
        }
        Command::Files => {
            for path in conf.sources().paths()? {
                println!("{}", path.display());
            }
        }
        Command::Wait { seconds } => {
            println!("waiting {seconds}s");
            tokio::time::sleep(std::time::Duration::from_secs(seconds)).await;
            println!("done");
        }
        Command::Migrate { steps } => {
            // Registered now, before the first step: from here on Ctrl-C is ours alone.
            let mut interrupted =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
                    .map_err(oslo::Error::other)?;
            println!("migrating {steps} steps");
            for step in 1..=steps {
                tokio::select! {
                    _ = interrupted.recv() => {
                        println!("interrupted after {} steps, database consistent", step - 1);
                        return Ok(());
                    }
                    () = tokio::time::sleep(std::time::Duration::from_millis(100)) => {}
                }
            }
            println!("migrated");
        }
    }
    Ok(())
}
