/// Options.
#[oslo::options(group = "api")]
struct ApiOpts {
    /// Mode.
    #[opt(default = "turbo", choices = ["fast", "safe"])]
    mode: String,
}

fn main() {}
