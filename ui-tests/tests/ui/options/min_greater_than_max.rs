/// Options.
#[oslo::options(group = "api")]
struct ApiOpts {
    /// Number of workers.
    #[opt(default = 4, min = 10, max = 5)]
    workers: u32,
}

fn main() {}
