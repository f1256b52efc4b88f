#[derive(Debug)]
struct Busy;

impl std::fmt::Display for Busy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("busy")
    }
}

fn is_busy(_: &Busy) -> bool {
    true
}

#[oslo::retry(when = is_busy, inc_sleep_time = "1 parsec")]
async fn fetch() -> Result<(), Busy> {
    Ok(())
}

fn main() {
    let _ = is_busy;
}
