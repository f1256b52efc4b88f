// A service without hooks: the trait's defaults apply, the name is the struct's.

use std::pin::pin;
use std::task::{Context as TaskContext, Poll, Waker};

use oslo::{Context, ServiceBase};

#[oslo::service]
struct Idle;

#[oslo::service]
impl Idle {}

fn main() {
    let cx = Context::new("Idle", oslo::Config::default());
    assert_eq!(Idle.name(), "Idle");
    let start = pin!(Idle.start(&cx)).poll(&mut TaskContext::from_waker(Waker::noop()));
    assert!(matches!(start, Poll::Ready(Ok(()))));
}
