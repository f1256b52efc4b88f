/// How to run: no way at all.
#[derive(oslo::config::OptionValue)]
enum Mode {}

fn main() {}
