use oslo::Context;

struct Poller;

#[oslo::service]
impl Poller {
    async fn start(&self, _cx: &Context) -> oslo::Result<()> {
        Ok(())
    }
}

fn main() {}
