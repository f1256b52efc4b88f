#[oslo::service(crate = "oslo service")]
struct Poller;

fn main() {}
