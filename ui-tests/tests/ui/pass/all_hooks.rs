// A service with all three hooks: each one is called through `ServiceBase`.

use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context as TaskContext, Poll, Waker};

use oslo::{Context, ServiceBase};

#[oslo::service(name = "counter")]
struct Counter {
    calls: AtomicUsize,
}

#[oslo::service]
impl Counter {
    async fn start(&self, _cx: &Context) -> oslo::Result<()> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    async fn stop(&self, cx: &Context) -> oslo::Result<()> {
        assert_eq!(cx.service_name(), "counter");
        self.calls.fetch_add(10, Ordering::SeqCst);
        Ok(())
    }

    async fn reset(&self, _: &oslo::Context) -> oslo::Result<()> {
        self.calls.fetch_add(100, Ordering::SeqCst);
        Ok(())
    }

    // Not a hook: left alone.
    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

/// Polls a future that is ready at once.
fn ready<T>(future: impl Future<Output = T>) -> T {
    match pin!(future).poll(&mut TaskContext::from_waker(Waker::noop())) {
        Poll::Ready(value) => value,
        Poll::Pending => panic!("the hook did not complete at once"),
    }
}

fn main() {
    let service = Counter {
        calls: AtomicUsize::new(0),
    };
    let cx = Context::new(service.name(), oslo::Config::default());
    assert_eq!(service.name(), "counter");
    ready(service.start(&cx)).unwrap();
    ready(ServiceBase::stop(&service, &cx)).unwrap();
    ready(ServiceBase::reset(&service, &cx)).unwrap();
    assert_eq!(service.calls(), 111);

    // Usable as a trait object, as the launcher holds it.
    let boxed: Box<dyn ServiceBase> = Box::new(service);
    assert_eq!(boxed.name(), "counter");
}
