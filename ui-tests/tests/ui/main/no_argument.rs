#[oslo::main]
async fn main() -> oslo::Result<()> {
    Ok(())
}
