/// Not declared with #[oslo::options].
struct PollerOpts;

#[oslo::main(options = [PollerOpts])]
async fn main(_conf: oslo::Config) -> oslo::Result<()> {
    Ok(())
}
