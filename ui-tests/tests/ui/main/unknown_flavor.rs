#[oslo::main(flavor = "single_thread")]
async fn main(conf: oslo::Config) -> oslo::Result<()> {
    let _ = conf;
    Ok(())
}
