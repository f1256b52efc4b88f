#[oslo::main]
fn main(conf: oslo::Config) -> oslo::Result<()> {
    let _ = conf;
    Ok(())
}
