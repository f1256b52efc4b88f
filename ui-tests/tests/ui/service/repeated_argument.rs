#[oslo::service(name = "poller", name = "fetcher")]
struct Poller;

fn main() {}
