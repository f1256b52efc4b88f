/// Options.
#[oslo::options(group = "mixer")]
struct MixerOpts {
    /// Share of the input kept.
    #[opt(default = 0.5)]
    ratio: f32,
    /// Largest total, in bytes.
    #[opt(default = 1)]
    total: u128,
}

fn main() {}
