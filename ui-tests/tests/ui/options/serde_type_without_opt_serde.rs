// A type that derives Deserialize but is used without `#[opt(serde)]`: the note says
// how to use it.

#[derive(serde::Deserialize)]
#[serde(rename_all = "lowercase")]
enum Backend {
    Memory,
    Disk,
}

/// Options.
#[oslo::options(group = "inventory")]
struct InventoryOpts {
    /// Where items are kept.
    backend: Option<Backend>,
}

fn main() {}
