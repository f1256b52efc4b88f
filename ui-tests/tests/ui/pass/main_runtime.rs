// `flavor` and `worker_threads` size the runtime `#[oslo::main]` builds; the function
// sees a runtime of that shape.

#[oslo::main(flavor = "multi_thread", worker_threads = 2)]
async fn main(conf: oslo::Config) -> oslo::Result<()> {
    let _ = conf;
    let runtime = tokio::runtime::Handle::current();
    assert_eq!(
        runtime.runtime_flavor(),
        tokio::runtime::RuntimeFlavor::MultiThread
    );
    assert_eq!(runtime.metrics().num_workers(), 2);
    Ok(())
}
