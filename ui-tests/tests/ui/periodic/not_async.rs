#[oslo::service]
struct Poller;

#[oslo::service]
impl Poller {
    #[periodic_task(spacing = "10s")]
    fn poll(&self) {}
}

fn main() {}
