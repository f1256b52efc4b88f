#[oslo::service(name = "poller", periodic_spacing = "10s")]
struct Poller;

fn main() {}
