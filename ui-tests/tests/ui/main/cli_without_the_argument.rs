#[derive(clap::Parser)]
struct Args {
    #[arg(long)]
    dry_run: bool,
}

#[oslo::main(cli = Args)]
async fn main(conf: oslo::Config) -> oslo::Result<()> {
    let _ = conf;
    Ok(())
}
