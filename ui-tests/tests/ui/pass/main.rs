// `#[oslo::main]` builds the program's entry point; this one returns at once, so the
// program exits with status 0.

/// The entry point; its documentation and lint attributes are kept.
#[oslo::main]
#[allow(clippy::unused_async)]
async fn main(conf: oslo::Config) -> oslo::Result<()> {
    let _ = conf;
    Ok(())
}
