#[oslo::service]
struct Poller;

#[oslo::service]
impl Poller {
    async fn stop(&self) -> oslo::Result<()> {
        Ok(())
    }
}

fn main() {}
