#[oslo::service]
enum Poller {
    Idle,
    Busy,
}

fn main() {}
