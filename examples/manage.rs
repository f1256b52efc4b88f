//! `manage`: a program with flags and sub-commands of its own beside the service's
//! (`--config-file`, `#[opt(cli)]` options), as `nova-manage db sync` is.
//!
//! ```text
//! cargo run --bin manage -- --config-file examples/hello.conf greet --times 2
//! cargo run --bin manage -- --manage-greeting bonjour greet
//! cargo run --bin manage -- --help
//! ```

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
    }
    Ok(())
}
