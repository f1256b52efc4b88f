#[oslo::service]
struct Poller;

#[oslo::service]
impl Poller {
    #[periodic_task(every = "10s")]
    async fn poll(&self) {}
}

fn main() {}
