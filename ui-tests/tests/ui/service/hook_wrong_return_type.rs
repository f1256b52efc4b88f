use oslo::Context;

#[oslo::service]
struct Poller;

#[oslo::service]
impl Poller {
    async fn reset(&self, _cx: &Context) -> u32 {
        0
    }
}

fn main() {}
