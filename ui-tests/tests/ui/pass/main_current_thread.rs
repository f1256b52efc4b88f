// `flavor = "current_thread"` runs the program on the main thread alone.

#[oslo::main(flavor = "current_thread")]
async fn main(conf: oslo::Config) -> oslo::Result<()> {
    let _ = conf;
    assert_eq!(
        tokio::runtime::Handle::current().runtime_flavor(),
        tokio::runtime::RuntimeFlavor::CurrentThread
    );
    Ok(())
}
