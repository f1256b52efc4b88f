//! The spans finished and not yet sent: one bounded buffer shared by the threads that
//! finish spans. The exporter is woken once a batch is full (or by its tick), not for
//! each span: waking a task for every request cost more than the span itself.

use std::sync::Mutex;

use tokio::sync::Notify;

use super::Finished;

/// Spans sent in one POST at most: the exporter is woken when that many are queued.
pub(super) const MAX_BATCH: usize = 512;

/// Spans waiting to be sent at most; more are dropped.
pub(super) const CAPACITY: usize = 4096;

/// The buffer and the exporter's wake-up.
#[derive(Debug, Default)]
pub(super) struct Queue {
    spans: Mutex<Vec<Finished>>,
    batch_ready: Notify,
}

/// The queue held [`CAPACITY`] spans: this one was dropped.
#[derive(Debug)]
pub(super) struct Full;

impl Queue {
    /// Queues a finished span, or refuses it when the queue is full.
    pub(super) fn push(&self, span: Finished) -> Result<(), Full> {
        let queued = {
            let mut spans = self.spans.lock().unwrap_or_else(|e| e.into_inner());
            if spans.len() >= CAPACITY {
                return Err(Full);
            }
            spans.push(span);
            spans.len()
        };
        if queued == MAX_BATCH {
            self.batch_ready.notify_one();
        }
        Ok(())
    }

    /// Moves every queued span into `into` (empty), keeping its allocation for the
    /// next spans.
    pub(super) fn take(&self, into: &mut Vec<Finished>) {
        debug_assert!(into.is_empty());
        let mut spans = self.spans.lock().unwrap_or_else(|e| e.into_inner());
        std::mem::swap(&mut *spans, into);
    }

    /// Waits until a batch is full (at once if one filled since the last wait).
    pub(super) async fn batch_ready(&self) {
        self.batch_ready.notified().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(n: u8) -> Finished {
        let mut span = Finished::named(1, |name| name.push_str("span"));
        span.trace_id = [n; 16];
        span.span_id = [n; 8];
        span.end = 1;
        span
    }

    #[test]
    fn spans_past_the_capacity_are_refused_and_taking_makes_room() {
        let queue = Queue::default();
        for _ in 0..CAPACITY {
            queue.push(span(1)).expect("room");
        }
        assert!(queue.push(span(2)).is_err());
        let mut taken = Vec::new();
        queue.take(&mut taken);
        assert_eq!(taken.len(), CAPACITY);
        queue.push(span(3)).expect("room again");
    }

    #[tokio::test]
    async fn a_full_batch_wakes_the_exporter_once() {
        let queue = Queue::default();
        for _ in 0..MAX_BATCH - 1 {
            queue.push(span(1)).expect("room");
        }
        // Polled once: not ready while the batch is one span short.
        tokio::select! {
            biased;
            () = queue.batch_ready() => panic!("woken before the batch was full"),
            () = std::future::ready(()) => {}
        }
        queue.push(span(1)).expect("room");
        tokio::time::timeout(std::time::Duration::from_secs(10), queue.batch_ready())
            .await
            .expect("woken once the batch is full");
    }
}
