#[oslo::service]
struct Poller;

#[oslo::service]
impl Poller {
    #[periodic_task(spacing = "10s", timeout = "0s")]
    async fn never_allowed(&self) {}

    #[periodic_task(spacing = "10s", timeout = "soon")]
    async fn not_a_duration(&self) {}
}

fn main() {}
