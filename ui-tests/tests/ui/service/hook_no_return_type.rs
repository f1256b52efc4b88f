use oslo::Context;

#[oslo::service]
struct Poller;

#[oslo::service]
impl Poller {
    async fn start(&self, _cx: &Context) {}
}

fn main() {}
