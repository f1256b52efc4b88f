#[oslo::main(worker_threads = 0)]
async fn main(conf: oslo::Config) -> oslo::Result<()> {
    let _ = conf;
    Ok(())
}
