struct Poller;

impl Poller {
    #[periodic_task(spacing = "10s")]
    async fn poll(&self) {}
}

fn main() {}
