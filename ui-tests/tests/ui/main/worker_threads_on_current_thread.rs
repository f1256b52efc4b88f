#[oslo::main(flavor = "current_thread", worker_threads = 2)]
async fn main(conf: oslo::Config) -> oslo::Result<()> {
    let _ = conf;
    Ok(())
}
