// `cli = Args`: the program's own clap Parser, handed to `main` beside the configuration.

#[derive(clap::Parser)]
struct Args {
    /// Do nothing.
    #[arg(long)]
    dry_run: bool,
}

#[oslo::main(cli = Args)]
async fn main(conf: oslo::Config, args: Args) -> oslo::Result<()> {
    let _ = conf;
    assert!(!args.dry_run);
    Ok(())
}
