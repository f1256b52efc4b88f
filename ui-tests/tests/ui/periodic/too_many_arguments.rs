use oslo::Context;

#[oslo::service]
struct Poller;

#[oslo::service]
impl Poller {
    #[periodic_task]
    async fn poll(&self, cx: &Context, extra: u32) {}
}

fn main() {}
