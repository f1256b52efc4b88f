#[oslo::service]
async fn start(_cx: &oslo::Context) -> oslo::Result<()> {
    Ok(())
}

fn main() {}
