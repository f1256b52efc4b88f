/// Options.
#[oslo::options(group = "api")]
struct ApiOpts {
    /// Port to listen on.
    #[opt(default = 70000)]
    port: u16,
}

fn main() {}
