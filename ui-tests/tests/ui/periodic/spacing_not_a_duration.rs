#[oslo::service]
struct Poller;

#[oslo::service]
impl Poller {
    #[periodic_task(spacing = "10 parsecs")]
    async fn poll(&self) {}
}

fn main() {}
