#[oslo::service]
struct Poller;

#[oslo::service]
impl Poller {
    #[periodic_task(run_immediately = "yes")]
    async fn poll(&self) {}
}

fn main() {}
