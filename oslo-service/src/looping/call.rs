//! The loop every kind of looping call shares: run the function, ask the pacing how
//! long to idle, sleep (interruptibly), again, until the function breaks, fails or the
//! call is stopped.

use std::fmt::{self, Debug, Display};
use std::ops::ControlFlow;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::error::LoopingCallError;
use super::sleeper::{Sleeper, TokioSleeper};

/// How a kind of looping call spaces its runs: [`FixedInterval`](super::FixedInterval),
/// [`FixedIntervalWithTimeout`](super::FixedIntervalWithTimeout),
/// [`Dynamic`](super::Dynamic) or [`BackOff`](super::BackOff). A value of one is what
/// [`LoopingCall::start`] takes; it holds the arguments of the Python `start()`.
///
/// The trait is sealed: the four kinds are the ones oslo.service has.
pub trait Pacing: sealed::Sealed + Send + 'static {
    /// What the function hands back in `ControlFlow::Continue` to keep looping: `()` for
    /// the fixed kinds, the sleep it wants for [`Dynamic`](super::Dynamic), success
    /// for [`BackOff`](super::BackOff).
    type Continue: Send + 'static;

    /// The kind's name in log lines, such as "fixed interval looping call".
    #[doc(hidden)]
    fn kind(&self) -> &'static str;

    /// The delay before the first run, and whether an error ends the loop.
    #[doc(hidden)]
    fn start_options(&self) -> StartOptions;

    /// How long to idle after a run, or why the loop must end.
    #[doc(hidden)]
    fn idle_for(&mut self, run: RunReport<'_, Self::Continue>) -> Result<Duration, Halt>;
}

pub(crate) mod sealed {
    pub trait Sealed {}
}

/// How a looping call starts and treats errors: the arguments every kind takes.
#[doc(hidden)]
#[derive(Clone, Copy, Debug)]
pub struct StartOptions {
    /// Sleep this long before the first run.
    pub initial_delay: Option<Duration>,
    /// End the loop on the function's first error (otherwise log it and go on).
    pub stop_on_exception: bool,
}

impl Default for StartOptions {
    fn default() -> Self {
        StartOptions {
            initial_delay: None,
            stop_on_exception: true,
        }
    }
}

/// The two builder methods every pacing has, `initial_delay` and `stop_on_exception`,
/// over its `start_options` field; `$on_error` ends the doc sentence "With `false`, an
/// error of the function is logged and …".
macro_rules! start_option_setters {
    ($on_error:literal) => {
        /// Sleeps `delay` before the first run.
        pub fn initial_delay(mut self, delay: Duration) -> Self {
            self.start_options.initial_delay = Some(delay);
            self
        }

        #[doc = concat!("With `false`, an error of the function is logged and ", $on_error, "; with")]
        /// `true` (the default) it ends the loop and becomes its result.
        pub fn stop_on_exception(mut self, stop: bool) -> Self {
            self.start_options.stop_on_exception = stop;
            self
        }
    };
}
pub(super) use start_option_setters;

/// What the pacing learns about the run that just ended.
#[doc(hidden)]
#[derive(Debug)]
pub struct RunReport<'a, C> {
    /// What the function returned to go on, or `None` when it failed and
    /// `stop_on_exception` is off.
    pub outcome: Option<C>,
    /// How long this run took.
    pub elapsed: Duration,
    /// How long ago the call was started.
    pub since_start: Duration,
    /// The function's name, for log lines.
    pub name: &'a str,
}

/// Why a pacing ends the loop.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Halt {
    /// The timeout passed after this long.
    TimedOut(Duration),
    /// A dynamic call got no interval and has no cap to fall back on.
    NoInterval,
}

impl<E> From<Halt> for LoopingCallError<E> {
    fn from(halt: Halt) -> Self {
        match halt {
            Halt::TimedOut(after) => LoopingCallError::TimedOut { after },
            Halt::NoInterval => LoopingCallError::NoInterval,
        }
    }
}

/// What a finished loop yields: `Some(value)` when the function broke out with
/// `ControlFlow::Break(value)`, `None` when the loop was stopped.
pub type LoopResult<T, E> = Result<Option<T>, LoopingCallError<E>>;

/// Stops a running looping call: the loop ends after the current run, or at once when
/// it is sleeping. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct Stopper {
    token: CancellationToken,
}

impl Stopper {
    /// Asks the loop to end; its result is then `Ok(None)`.
    pub fn stop(&self) {
        self.token.cancel();
    }

    /// Whether [`Stopper::stop`] was called.
    pub fn is_stopped(&self) -> bool {
        self.token.is_cancelled()
    }
}

/// A started looping call: stop it, or wait for its result.
///
/// Dropping the handle does not stop the loop (as with a tokio `JoinHandle`).
#[derive(Debug)]
pub struct LoopingCallHandle<T, E> {
    stopper: Stopper,
    task: JoinHandle<LoopResult<T, E>>,
}

impl<T, E> LoopingCallHandle<T, E> {
    /// Ends the loop after the current run (at once if it is sleeping).
    pub fn stop(&self) {
        self.stopper.stop();
    }

    /// A clonable way to stop the loop from elsewhere.
    pub fn stopper(&self) -> Stopper {
        self.stopper.clone()
    }

    /// Whether the loop has ended.
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }

    /// Ends the loop's task at once, even in the middle of a run.
    pub fn abort(&self) {
        self.task.abort();
    }

    /// Waits for the loop to end: `Ok(Some(value))` when the function broke out with a
    /// value, `Ok(None)` when it was stopped, or the error that ended it.
    pub async fn wait(self) -> LoopResult<T, E> {
        match self.task.await {
            Ok(result) => result,
            Err(join) => Err(LoopingCallError::TaskFailed(join)),
        }
    }
}

/// A function run over and over in its own task: oslo.service's looping calls.
///
/// The function is an async closure returning `Result<ControlFlow<T, C>, E>`:
/// `Ok(ControlFlow::Continue(c))` asks for another run (`c` is whatever the kind needs,
/// see [`Pacing::Continue`]), `Ok(ControlFlow::Break(value))` ends the loop with `value`
/// (Python's `LoopingCallDone(retvalue)`), and `Err(e)` ends it with `e` unless
/// `stop_on_exception(false)` was asked for.
///
/// A call runs one loop at a time; it can be started again once the loop has ended.
///
/// ```
/// use std::ops::ControlFlow;
/// use std::time::Duration;
/// use oslo::looping::{FixedInterval, LoopingCall};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut polls = 0;
/// let call = LoopingCall::new(move || {
///     polls += 1;
///     let polls = polls;
///     async move {
///         if polls == 3 {
///             return Ok::<_, std::io::Error>(ControlFlow::Break(polls));
///         }
///         Ok(ControlFlow::Continue(()))
///     }
/// })
/// .named("poll");
///
/// let handle = call.start(FixedInterval::every(Duration::from_secs(10)))?;
/// assert_eq!(handle.wait().await?, Some(3));
/// # Ok(())
/// # }
/// ```
pub struct LoopingCall<F> {
    name: Arc<str>,
    sleeper: Arc<dyn Sleeper>,
    state: Arc<Mutex<State<F>>>,
}

struct State<F> {
    /// The function while no loop runs; a running loop holds it.
    function: Option<F>,
    /// Stops the running loop, if any.
    stopper: Option<Stopper>,
}

impl<F> Debug for LoopingCall<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoopingCall")
            .field("name", &self.name)
            .field("sleeper", &self.sleeper)
            .field("running", &self.is_running())
            .finish()
    }
}

impl<F> LoopingCall<F> {
    /// A looping call of `function`, named after its type until [`LoopingCall::named`].
    pub fn new(function: F) -> Self {
        LoopingCall {
            name: Arc::from(std::any::type_name::<F>()),
            sleeper: Arc::new(TokioSleeper),
            state: Arc::new(Mutex::new(State {
                function: Some(function),
                stopper: None,
            })),
        }
    }

    /// Names the function in log lines ("function poll run outlasted interval by ...").
    pub fn named(mut self, name: impl Into<Arc<str>>) -> Self {
        self.name = name.into();
        self
    }

    /// Takes the pauses through `sleeper` rather than `tokio::time::sleep`.
    pub fn with_sleeper(mut self, sleeper: impl Sleeper) -> Self {
        self.sleeper = Arc::new(sleeper);
        self
    }

    /// The function's name in log lines.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether a loop is running.
    pub fn is_running(&self) -> bool {
        lock(&self.state).function.is_none()
    }

    /// Stops the running loop, if any, after its current run.
    pub fn stop(&self) {
        if let Some(stopper) = &lock(&self.state).stopper {
            stopper.stop();
        }
    }

    /// Starts the loop in a new task, paced by `pacing`.
    ///
    /// Fails with [`LoopingCallError::AlreadyRunning`] while a loop started earlier
    /// still runs, and with [`LoopingCallError::NoRuntime`] outside a tokio runtime.
    pub fn start<P, Fut, T, E>(
        &self,
        pacing: P,
    ) -> Result<LoopingCallHandle<T, E>, LoopingCallError<E>>
    where
        P: Pacing,
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = Result<ControlFlow<T, P::Continue>, E>> + Send + 'static,
        T: Send + 'static,
        E: Display + Send + 'static,
    {
        let runtime =
            tokio::runtime::Handle::try_current().map_err(|_| LoopingCallError::NoRuntime)?;
        let mut state = lock(&self.state);
        let function = state
            .function
            .take()
            .ok_or(LoopingCallError::AlreadyRunning)?;
        let stopper = Stopper::default();
        state.stopper = Some(stopper.clone());
        drop(state);

        let lease = Lease {
            function: Some(function),
            state: Arc::clone(&self.state),
        };
        let run = Run {
            name: Arc::clone(&self.name),
            sleeper: Arc::clone(&self.sleeper),
            stopper: stopper.clone(),
        };
        let task = runtime.spawn(run.run(lease, pacing));
        Ok(LoopingCallHandle { stopper, task })
    }
}

fn lock<F>(state: &Mutex<State<F>>) -> MutexGuard<'_, State<F>> {
    // The state stays consistent across a panic (plain field stores), so a poisoned
    // lock is safe to use.
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Holds the function while its loop runs, and gives it back to the call when the
/// loop ends in any way (result, panic, abort), so the call can be started again.
struct Lease<F> {
    function: Option<F>,
    state: Arc<Mutex<State<F>>>,
}

impl<F> Drop for Lease<F> {
    fn drop(&mut self) {
        let mut state = lock(&self.state);
        state.function = self.function.take();
        state.stopper = None;
    }
}

/// What one running loop needs besides the function and its pacing.
struct Run {
    name: Arc<str>,
    sleeper: Arc<dyn Sleeper>,
    stopper: Stopper,
}

impl Run {
    async fn run<F, Fut, P, T, E>(self, mut lease: Lease<F>, mut pacing: P) -> LoopResult<T, E>
    where
        P: Pacing,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<ControlFlow<T, P::Continue>, E>>,
        E: Display,
    {
        let Some(function) = lease.function.as_mut() else {
            return Ok(None);
        };
        let started = Instant::now();
        let kind = pacing.kind();
        let start_options = pacing.start_options();
        let name = &*self.name;

        // As in oslo.service, a zero initial delay means none: no sleep at all.
        if let Some(delay) = start_options.initial_delay.filter(|delay| !delay.is_zero()) {
            if !self.pause(delay).await {
                return Ok(None);
            }
        }
        while !self.stopper.is_stopped() {
            let run_started = Instant::now();
            let returned = function().await;
            let elapsed = run_started.elapsed();
            let outcome = match returned {
                Ok(ControlFlow::Break(value)) => return Ok(Some(value)),
                Ok(ControlFlow::Continue(next)) => Some(next),
                Err(error) => {
                    tracing::error!(kind, function = name, %error, "looping call function failed");
                    if start_options.stop_on_exception {
                        return Err(LoopingCallError::Function(error));
                    }
                    None
                }
            };
            if self.stopper.is_stopped() {
                break;
            }
            let idle = pacing.idle_for(RunReport {
                outcome,
                elapsed,
                since_start: started.elapsed(),
                name,
            })?;
            tracing::trace!(
                kind,
                function = name,
                sleep_secs = idle.as_secs_f64(),
                "looping call sleeping"
            );
            if !self.pause(idle).await {
                break;
            }
        }
        Ok(None)
    }

    /// Sleeps `duration`; false when the call was stopped meanwhile.
    async fn pause(&self, duration: Duration) -> bool {
        tokio::select! {
            () = self.sleeper.sleep(duration) => !self.stopper.is_stopped(),
            () = self.stopper.token.cancelled() => false,
        }
    }
}
