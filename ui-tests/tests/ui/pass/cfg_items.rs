//! An options struct and a service left out by `#[cfg]` written under the macro
//! attribute: what the macros generate beside them goes away with them, and their
//! twins under a true `#[cfg]` stay.

/// Options that are never compiled.
#[oslo::options(group = "gone")]
#[cfg(any())]
struct GoneOpts {
    /// A port.
    #[opt(default = 8080)]
    port: u16,
}

/// Options that always are.
#[oslo::options(group = "kept")]
#[cfg(all())]
struct KeptOpts {
    /// A port.
    #[opt(default = 8080)]
    port: u16,
}

#[oslo::service]
#[cfg(any())]
struct Gone;

#[oslo::service]
#[cfg(any())]
impl Gone {
    #[periodic_task(spacing = "10s")]
    async fn tick(&self) {}
}

#[oslo::service]
#[cfg(all())]
struct Kept;

#[oslo::service]
#[cfg(all())]
impl Kept {
    #[periodic_task(spacing = "10s")]
    async fn tick(&self) {}
}

fn main() {
    use oslo::config::OptionGroup;
    use oslo::periodic::PeriodicTaskRegistry;

    assert_eq!(KeptOpts::GROUP, "kept");
    assert_eq!(Kept::periodic_tasks().len(), 1);
}
