//! A layer that can be turned off for events while it keeps seeing every span: the text
//! and JSON outputs are both installed and one is on, so that a reload may change the
//! format. (A formatter keeps its rendering of each span's fields in the span; one that
//! missed a span's creation cannot format events inside it.)

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

/// `inner`, writing events only while `on` is set.
pub(crate) struct Switch<L> {
    pub(crate) inner: L,
    pub(crate) on: Arc<AtomicBool>,
}

impl<S, L> Layer<S> for Switch<L>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    L: Layer<S>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, cx: Context<'_, S>) {
        self.inner.on_new_span(attrs, id, cx)
    }

    fn on_record(&self, span: &Id, values: &Record<'_>, cx: Context<'_, S>) {
        self.inner.on_record(span, values, cx)
    }

    fn on_follows_from(&self, span: &Id, follows: &Id, cx: Context<'_, S>) {
        self.inner.on_follows_from(span, follows, cx)
    }

    fn on_event(&self, event: &Event<'_>, cx: Context<'_, S>) {
        if self.on.load(Ordering::Relaxed) {
            self.inner.on_event(event, cx)
        }
    }

    fn on_enter(&self, id: &Id, cx: Context<'_, S>) {
        self.inner.on_enter(id, cx)
    }

    fn on_exit(&self, id: &Id, cx: Context<'_, S>) {
        self.inner.on_exit(id, cx)
    }

    fn on_close(&self, id: Id, cx: Context<'_, S>) {
        self.inner.on_close(id, cx)
    }

    fn on_id_change(&self, old: &Id, new: &Id, cx: Context<'_, S>) {
        self.inner.on_id_change(old, new, cx)
    }
}
