/// Options.
#[oslo::options(group = "g")]
struct Opts {
    /// A name.
    #[opt(serde, default = "x")]
    name: String,
}

fn main() {}
