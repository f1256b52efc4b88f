#[oslo::service]
struct Poller;

#[oslo::service]
impl Poller {
    #[periodic_task(spacing = "10s", run_immediately = true, spacing = "20s")]
    async fn poll(&self) {}
}

fn main() {}
