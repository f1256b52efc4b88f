#[oslo::service]
struct Poller;

#[oslo::service]
impl Poller {
    #[periodic_task(spacing = "1m30")]
    async fn poll(&self) {}
}

fn main() {}
