/// Options.
#[oslo::options(group = "api")]
struct ApiOpts {
    /// Number of workers.
    #[opt(default = 4, choices = ["1", "4"])]
    workers: u32,
}

fn main() {}
