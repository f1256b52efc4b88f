//! The spans finished and not yet sent, already encoded: one bounded buffer of
//! protobuf `Span` fields shared by the threads that finish spans. The exporter is
//! woken once a batch is full (or by its tick), not for each span: waking a task for
//! every request cost more than the span itself. Holding bytes, not span structs, a
//! push copies a span once and the exporter copies it once more, into the body.

use std::sync::Mutex;

use tokio::sync::Notify;

/// Spans sent in one POST at most: the exporter is woken when that many are queued.
/// Each POST wakes the exporter's thread and the collector a few times: at 512 spans
/// a batch, those wake-ups cost the exporter more than the copying of the spans did.
pub(super) const MAX_BATCH: usize = 2048;

/// Spans waiting to be sent at most (four batches: one being sent, three filling);
/// more are dropped.
pub(super) const CAPACITY: usize = 8192;

/// Bytes of spans waiting to be sent at most (long paths make long spans); more are
/// dropped.
pub(super) const MAX_BYTES: usize = 4 << 20;

/// The buffer and the exporter's wake-up.
#[derive(Debug, Default)]
pub(super) struct Queue {
    queued: Mutex<Encoded>,
    batch_ready: Notify,
}

/// Spans, each written as field 2 (`spans`) of a `ScopeSpans`, end to end, and where
/// each batch of [`MAX_BATCH`] of them starts.
#[derive(Debug, Default)]
pub(super) struct Encoded {
    bytes: Vec<u8>,
    spans: usize,
    /// The offset in `bytes` of span 0, MAX_BATCH, 2 × MAX_BATCH…
    batch_starts: Vec<usize>,
}

impl Encoded {
    /// Each batch's bytes and its number of spans ([`MAX_BATCH`] at most), in the order
    /// they were queued.
    pub(super) fn batches(&self) -> impl Iterator<Item = (&[u8], usize)> {
        let ends = self
            .batch_starts
            .iter()
            .skip(1)
            .copied()
            .chain(std::iter::once(self.bytes.len()));
        let counts = (0..self.spans)
            .step_by(MAX_BATCH)
            .map(|first| (self.spans - first).min(MAX_BATCH));
        self.batch_starts
            .iter()
            .zip(ends)
            .zip(counts)
            .map(|((&start, end), count)| (&self.bytes[start..end], count))
    }

    pub(super) fn is_empty(&self) -> bool {
        self.spans == 0
    }

    /// Empties it, keeping its room.
    pub(super) fn clear(&mut self) {
        self.bytes.clear();
        self.spans = 0;
        self.batch_starts.clear();
    }
}

/// The queue held [`CAPACITY`] spans or [`MAX_BYTES`]: this one was dropped.
#[derive(Debug)]
pub(super) struct Full;

impl Queue {
    /// Queues a span, the bytes of a `Span` message whose `write` appends them to the
    /// buffer it is given (`len` of them), or refuses it when the queue is full.
    pub(super) fn push(&self, len: usize, write: impl FnOnce(&mut Vec<u8>)) -> Result<(), Full> {
        let spans = {
            let mut queued = self.queued.lock().unwrap_or_else(|e| e.into_inner());
            let queued = &mut *queued;
            if queued.spans >= CAPACITY || queued.bytes.len().saturating_add(len) > MAX_BYTES {
                return Err(Full);
            }
            if queued.spans % MAX_BATCH == 0 {
                queued.batch_starts.push(queued.bytes.len());
            }
            super::encode::span_field(len, &mut queued.bytes, write);
            queued.spans += 1;
            queued.spans
        };
        if spans == MAX_BATCH {
            self.batch_ready.notify_one();
        }
        Ok(())
    }

    /// Moves every queued span into `into` (empty), keeping `into`'s room for the next
    /// spans.
    pub(super) fn take(&self, into: &mut Encoded) {
        debug_assert!(into.is_empty());
        let mut queued = self.queued.lock().unwrap_or_else(|e| e.into_inner());
        std::mem::swap(&mut *queued, into);
    }

    /// Waits until a batch is full (at once if one filled since the last wait).
    pub(super) async fn batch_ready(&self) {
        self.batch_ready.notified().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn push(queue: &Queue, byte: u8) -> Result<(), Full> {
        queue.push(3, |buf| buf.extend_from_slice(&[byte; 3]))
    }

    #[test]
    fn spans_past_the_capacity_are_refused_and_taking_makes_room() {
        let queue = Queue::default();
        for _ in 0..CAPACITY {
            push(&queue, 1).expect("room");
        }
        assert!(push(&queue, 2).is_err());
        let mut taken = Encoded::default();
        queue.take(&mut taken);
        assert_eq!(
            taken.batches().map(|(_, count)| count).sum::<usize>(),
            CAPACITY
        );
        push(&queue, 3).expect("room again");
    }

    #[test]
    fn bytes_past_the_bound_are_refused() {
        let queue = Queue::default();
        let len = MAX_BYTES / 2;
        queue
            .push(len, |buf| buf.resize(buf.len() + len, 0))
            .expect("room");
        assert!(
            queue
                .push(len, |buf| buf.resize(buf.len() + len, 0))
                .is_err()
        );
        queue
            .push(10, |buf| buf.resize(buf.len() + 10, 0))
            .expect("a short one fits");
    }

    #[test]
    fn spans_are_taken_in_batches_in_order() {
        let queue = Queue::default();
        for n in 0..MAX_BATCH * 2 + 1 {
            push(&queue, (n % 256) as u8).expect("room");
        }
        let mut taken = Encoded::default();
        queue.take(&mut taken);
        let (batches, counts): (Vec<&[u8]>, Vec<usize>) = taken.batches().unzip();
        assert_eq!(counts, [MAX_BATCH, MAX_BATCH, 1]);
        // Each span is its tag (field 2, length-delimited), its length and 3 bytes.
        assert_eq!(
            batches.iter().map(|b| b.len()).collect::<Vec<_>>(),
            [MAX_BATCH * 5, MAX_BATCH * 5, 5]
        );
        assert_eq!(&batches[0][..5], &[0x12, 3, 0, 0, 0]);
        assert_eq!(batches[2], &[0x12, 3, 0, 0, 0]);
        taken.clear();
        assert_eq!(taken.batches().count(), 0);
    }

    #[tokio::test]
    async fn a_full_batch_wakes_the_exporter_once() {
        let queue = Queue::default();
        for _ in 0..MAX_BATCH - 1 {
            push(&queue, 1).expect("room");
        }
        // Polled once: not ready while the batch is one span short.
        tokio::select! {
            biased;
            () = queue.batch_ready() => panic!("woken before the batch was full"),
            () = std::future::ready(()) => {}
        }
        push(&queue, 1).expect("room");
        tokio::time::timeout(std::time::Duration::from_secs(10), queue.batch_ready())
            .await
            .expect("woken once the batch is full");
    }
}
