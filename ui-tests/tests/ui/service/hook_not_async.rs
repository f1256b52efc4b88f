use oslo::Context;

#[oslo::service]
struct Poller;

#[oslo::service]
impl Poller {
    fn start(&self, _cx: &Context) -> oslo::Result<()> {
        Ok(())
    }
}

fn main() {}
