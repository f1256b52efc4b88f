#[oslo::service]
struct Poller;

#[oslo::service]
impl Poller {
    #[periodic_task]
    async fn poll(&self) -> u32 {
        1
    }
}

fn main() {}
