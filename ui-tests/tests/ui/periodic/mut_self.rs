#[oslo::service]
struct Poller;

#[oslo::service]
impl Poller {
    #[periodic_task]
    async fn poll(&mut self) {}
}

fn main() {}
