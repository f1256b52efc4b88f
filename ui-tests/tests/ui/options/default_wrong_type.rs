/// Options.
#[oslo::options(group = "api")]
struct ApiOpts {
    /// Number of workers.
    #[opt(default = "4")]
    workers: u32,
    /// Debug mode.
    #[opt(default = 1)]
    verbose: bool,
}

fn main() {}
