#[oslo::service]
struct Purger;

#[oslo::service]
impl Purger {
    #[periodic_task(spacing = "60s", scope = "global")]
    async fn purge(&self) {}
}

fn main() {}
