#[oslo::service]
struct Poller;

#[oslo::service]
impl Poller {
    #[periodic_task(ticks_between_runs = 3)]
    async fn poll(&self) {}
}

fn main() {}
