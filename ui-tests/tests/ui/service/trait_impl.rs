use oslo::{BoxFuture, Context};

#[oslo::service]
struct Poller;

#[oslo::service]
impl oslo::ServiceBase for Poller {
    fn name(&self) -> &str {
        "poller"
    }

    fn start<'a>(&'a self, _cx: &'a Context) -> BoxFuture<'a, oslo::Result<()>> {
        Box::pin(async { Ok(()) })
    }
}

fn main() {}
