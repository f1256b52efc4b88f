use oslo::Context;

#[oslo::service]
struct Poller {
    polls: u32,
}

#[oslo::service]
impl Poller {
    async fn start(&mut self, _cx: &Context) -> oslo::Result<()> {
        self.polls = 0;
        Ok(())
    }
}

fn main() {}
