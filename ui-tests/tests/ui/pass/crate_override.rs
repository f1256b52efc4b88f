// `crate = "..."` points the generated code at another path than `::oslo`. The path
// here is a stand-in runtime with its own traits, so this only compiles when the
// generated code uses it.

mod fake {
    pub use ::oslo::{BoxFuture, Context, Result};

    pub trait ServiceBase {
        fn name(&self) -> &str;
        fn start<'a>(&'a self, cx: &'a Context) -> BoxFuture<'a, Result<()>>;
        fn run<'a>(&'a self, cx: &'a Context) -> BoxFuture<'a, Result<()>>;
    }

    pub mod periodic {
        pub use ::oslo::periodic::{PeriodicTask, PeriodicTaskRegistry, Timing};
    }

    pub mod __private {
        pub use ::oslo::__private::{MainSpec, RuntimeFlavor, RuntimeSpec, capture_early_signals};

        pub trait ServiceStruct {
            const NAME: &'static str;
            const TYPE_NAME: &'static str;
            const PERIODIC_TIMING: super::periodic::Timing = super::periodic::Timing::DEFAULT;
        }

        pub async fn run_periodic_tasks<S>(
            _service: &S,
            _cx: &super::Context,
            _owner: &str,
            _timing: super::periodic::Timing,
        ) -> super::Result<()> {
            Ok(())
        }

        pub fn run_main<F, Fut>(spec: MainSpec, main: F) -> std::process::ExitCode
        where
            F: FnOnce(::oslo::Config) -> Fut,
            Fut: Future<Output = super::Result<()>>,
        {
            use std::task::{Context, Poll, Waker};

            assert!(spec.name.starts_with("trybuild"), "{}", spec.name);
            let run = std::pin::pin!(main(::oslo::Config::default()));
            match run.poll(&mut Context::from_waker(Waker::noop())) {
                Poll::Ready(Ok(())) => std::process::ExitCode::SUCCESS,
                _ => std::process::ExitCode::FAILURE,
            }
        }
    }
}

#[oslo::service(crate = "crate::fake", name = "faked")]
struct Faked;

#[oslo::service(crate = "crate::fake")]
impl Faked {
    async fn start(&self, _cx: &oslo::Context) -> oslo::Result<()> {
        Ok(())
    }
}

#[oslo::main(crate = "crate::fake")]
async fn main(conf: oslo::Config) -> oslo::Result<()> {
    let _ = conf;
    assert_eq!(fake::ServiceBase::name(&Faked), "faked");
    Ok(())
}
