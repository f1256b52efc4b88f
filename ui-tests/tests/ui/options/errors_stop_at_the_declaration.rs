// A mistake inside #[oslo::options] is the one error: the program's uses of the group
// (its registration, `group::<T>()`, its fields) add none of their own.

/// Options.
#[oslo::options(group = "inventory")]
struct InventoryOpts {
    /// Port.
    #[opt(default = "abc")]
    port: u16,
}

#[oslo::main(options = [InventoryOpts])]
async fn main(conf: oslo::Config) -> oslo::Result<()> {
    let port: u16 = conf.group::<InventoryOpts>()?.port;
    assert_ne!(port, 0);
    Ok(())
}
