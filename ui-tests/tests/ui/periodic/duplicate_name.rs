use oslo::Context;

#[oslo::service]
struct Poller;

#[oslo::service]
impl Poller {
    #[periodic_task]
    async fn poll(&self) {}

    #[periodic_task(name = "poll")]
    async fn poll_again(&self, _cx: &Context) -> oslo::Result<()> {
        Ok(())
    }
}

fn main() {}
