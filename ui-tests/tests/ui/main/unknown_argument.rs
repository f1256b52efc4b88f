#[oslo::main(workers = 4)]
async fn main(conf: oslo::Config) -> oslo::Result<()> {
    let _ = conf;
    Ok(())
}
