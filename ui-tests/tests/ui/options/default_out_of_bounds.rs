/// Options.
#[oslo::options(group = "api")]
struct ApiOpts {
    /// Number of workers.
    #[opt(default = 0, min = 1, max = 64)]
    workers: u32,
    /// Fraction of the pool.
    #[opt(default = 1.5, max = 1.0)]
    ratio: f64,
}

fn main() {}
