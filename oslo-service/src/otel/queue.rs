//! The spans finished and not yet sent, already encoded, in two steps. A thread that
//! finishes a span writes it into a stage of its own, a small buffer no other thread
//! writes to; a full stage (64 spans) moves at once onto the queue the threads share,
//! bounded, from which the exporter takes its batches. The exporter is woken once a
//! batch is full (or by its tick, which also empties the stages), not for each span.
//!
//! Why stages: when each span went straight onto the shared queue, the lock and the
//! span's bytes were on cache lines that the other cores, and the exporter's, held
//! last, and each request waited for them to come over; a stage stays in its thread's
//! cache, and a move copies 64 spans with one lock.

use std::sync::{Mutex, MutexGuard};

use tokio::sync::Notify;

/// Spans sent in one POST at most: the exporter is woken when that many are queued.
/// Each POST wakes the exporter's thread and the collector a few times: at 512 spans
/// a batch, those wake-ups cost the exporter more than the copying of the spans did.
pub(super) const MAX_BATCH: usize = 2048;

/// Spans waiting on the shared queue at most (four batches: one being sent, three
/// filling); more are dropped, a stage at a time. The stages hold at most
/// [`STAGES`] × [`STAGE_SPANS`] more.
pub(super) const CAPACITY: usize = 8192;

/// Bytes of spans waiting on the shared queue at most (long paths make long spans);
/// more are dropped.
pub(super) const MAX_BYTES: usize = 4 << 20;

/// Spans a stage holds before they move to the shared queue (a divisor of
/// [`MAX_BATCH`], so that batches stay full)…
const STAGE_SPANS: usize = 64;
/// …or bytes (a stage holds this much and one span more at most).
const STAGE_BYTES: usize = 16 << 10;
/// The room a stage keeps once emptied at most: one long span (a long URL's) grows it,
/// and it gives that room back.
const STAGE_ROOM: usize = 2 * STAGE_BYTES;

/// Stages of a queue: a thread takes the stage of its number, so that threads share
/// one only when there are more of them (each then still works, with a lock that
/// two threads take).
const STAGES: usize = 16;

/// The stages, the shared queue and the exporter's wake-up.
#[derive(Debug, Default)]
pub(super) struct Queue {
    stages: [Stage; STAGES],
    queued: Mutex<Encoded>,
    batch_ready: Notify,
}

/// One thread's spans, not yet on the shared queue, alone on its cache lines.
#[derive(Debug, Default)]
#[repr(align(128))]
struct Stage(Mutex<Staged>);

/// Spans end to end, as on the queue.
#[derive(Debug, Default)]
struct Staged {
    bytes: Vec<u8>,
    spans: usize,
}

/// Spans, each written as field 2 (`spans`) of a `ScopeSpans`, end to end, in batches
/// of [`MAX_BATCH`] spans at most.
#[derive(Debug, Default)]
pub(super) struct Encoded {
    bytes: Vec<u8>,
    spans: usize,
    /// Where each batch starts in `bytes`, and its number of spans.
    batches: Vec<(usize, usize)>,
}

impl Encoded {
    /// Each batch's bytes and its number of spans ([`MAX_BATCH`] at most), in the order
    /// they were queued.
    pub(super) fn batches(&self) -> impl Iterator<Item = (&[u8], usize)> {
        let ends = self
            .batches
            .iter()
            .skip(1)
            .map(|&(start, _)| start)
            .chain(std::iter::once(self.bytes.len()));
        self.batches
            .iter()
            .zip(ends)
            .map(|(&(start, count), end)| (&self.bytes[start..end], count))
    }

    pub(super) fn is_empty(&self) -> bool {
        self.spans == 0
    }

    /// Empties it, keeping its room.
    pub(super) fn clear(&mut self) {
        self.bytes.clear();
        self.spans = 0;
        self.batches.clear();
    }

    /// Appends a stage's spans, in the last batch if they fit there.
    fn append(&mut self, staged: &Staged) {
        match self.batches.last_mut() {
            Some((_, count)) if *count + staged.spans <= MAX_BATCH => *count += staged.spans,
            _ => self.batches.push((self.bytes.len(), staged.spans)),
        }
        self.bytes.extend_from_slice(&staged.bytes);
        self.spans += staged.spans;
    }
}

/// The shared queue held [`CAPACITY`] spans or [`MAX_BYTES`]: this many were dropped.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Full {
    pub(super) dropped: usize,
}

impl Queue {
    /// Stages a span, the bytes of a `Span` message whose `write` appends them to the
    /// buffer it is given (`len` of them). When that fills the stage, its spans move to
    /// the shared queue, or are dropped when it is full.
    pub(super) fn push(&self, len: usize, write: impl FnOnce(&mut Vec<u8>)) -> Result<(), Full> {
        let mut staged = lock(&self.stages[super::thread_number() % STAGES].0);
        super::encode::span_field(len, &mut staged.bytes, write);
        staged.spans += 1;
        if staged.spans < STAGE_SPANS && staged.bytes.len() < STAGE_BYTES {
            return Ok(());
        }
        self.publish(&mut staged)
    }

    /// Moves every stage's spans to the shared queue, whatever their number (before a
    /// tick's or a flush's export, so that no span waits in a stage for long).
    pub(super) fn publish_staged(&self) -> Result<(), Full> {
        let mut dropped = 0;
        for stage in &self.stages {
            let mut staged = lock(&stage.0);
            if staged.spans > 0
                && let Err(full) = self.publish(&mut staged)
            {
                dropped += full.dropped;
            }
        }
        if dropped == 0 {
            Ok(())
        } else {
            Err(Full { dropped })
        }
    }

    /// Moves a stage's spans to the shared queue (all or none), leaving it empty.
    fn publish(&self, staged: &mut Staged) -> Result<(), Full> {
        let count = staged.spans;
        let queued_now = {
            let mut queued = lock(&self.queued);
            let fits = queued.spans + count <= CAPACITY
                && queued.bytes.len().saturating_add(staged.bytes.len()) <= MAX_BYTES;
            fits.then(|| {
                queued.append(staged);
                queued.spans
            })
        };
        staged.bytes.clear();
        staged.bytes.shrink_to(STAGE_ROOM);
        staged.spans = 0;
        let Some(after) = queued_now else {
            return Err(Full { dropped: count });
        };
        if (after - count) / MAX_BATCH != after / MAX_BATCH {
            self.batch_ready.notify_one();
        }
        Ok(())
    }

    /// Moves every span on the shared queue into `into` (empty), keeping `into`'s room
    /// for the next spans.
    pub(super) fn take(&self, into: &mut Encoded) {
        debug_assert!(into.is_empty());
        std::mem::swap(&mut *lock(&self.queued), into);
    }

    /// Waits until a batch is full (at once if one filled since the last wait).
    pub(super) async fn batch_ready(&self) {
        self.batch_ready.notified().await;
    }
}

/// The lock of a stage or the queue, whose contents stay whole even if a thread
/// panicked holding it (no code between the lock and the unlock can).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn push(queue: &Queue, byte: u8) -> Result<(), Full> {
        queue.push(3, |buf| buf.extend_from_slice(&[byte; 3]))
    }

    fn taken(queue: &Queue) -> Encoded {
        let mut taken = Encoded::default();
        queue.take(&mut taken);
        taken
    }

    fn count(encoded: &Encoded) -> usize {
        encoded.batches().map(|(_, count)| count).sum()
    }

    #[test]
    fn spans_wait_in_their_stage_until_it_is_full_or_published() {
        let queue = Queue::default();
        for _ in 0..STAGE_SPANS - 1 {
            push(&queue, 1).expect("room");
        }
        assert!(taken(&queue).is_empty(), "still staged");
        push(&queue, 1).expect("room");
        assert_eq!(count(&taken(&queue)), STAGE_SPANS, "a full stage moves");
        push(&queue, 1).expect("room");
        queue.publish_staged().expect("room");
        assert_eq!(count(&taken(&queue)), 1, "publishing moves a partial stage");
    }

    #[test]
    fn a_stage_past_the_capacity_is_dropped_whole_and_taking_makes_room() {
        let queue = Queue::default();
        for _ in 0..CAPACITY + STAGE_SPANS - 1 {
            push(&queue, 1).expect("room");
        }
        assert_eq!(
            push(&queue, 2),
            Err(Full {
                dropped: STAGE_SPANS
            })
        );
        assert_eq!(count(&taken(&queue)), CAPACITY);
        push(&queue, 3).expect("room again");
        queue.publish_staged().expect("room again");
        assert_eq!(count(&taken(&queue)), 1);
    }

    #[test]
    fn bytes_past_the_bound_are_refused() {
        let queue = Queue::default();
        let len = MAX_BYTES / 2;
        // A long span fills its stage alone, and moves at once.
        queue
            .push(len, |buf| buf.resize(buf.len() + len, 0))
            .expect("room");
        assert_eq!(
            queue.push(len, |buf| buf.resize(buf.len() + len, 0)),
            Err(Full { dropped: 1 })
        );
        assert!(
            queue
                .stages
                .iter()
                .all(|stage| lock(&stage.0).bytes.capacity() <= STAGE_ROOM),
            "a stage gives back the room a long span took"
        );
        queue
            .push(10, |buf| buf.resize(buf.len() + 10, 0))
            .expect("staged");
        queue.publish_staged().expect("a short one fits");
        assert_eq!(count(&taken(&queue)), 2);
    }

    #[test]
    fn spans_are_taken_in_batches_in_order() {
        let queue = Queue::default();
        for n in 0..MAX_BATCH * 2 + 1 {
            push(&queue, (n % 256) as u8).expect("room");
        }
        queue.publish_staged().expect("room");
        let mut taken = taken(&queue);
        let (batches, counts): (Vec<&[u8]>, Vec<usize>) = taken.batches().unzip();
        assert_eq!(counts, [MAX_BATCH, MAX_BATCH, 1]);
        // Each span is its tag (field 2, length-delimited), its length and 3 bytes.
        assert_eq!(
            batches.iter().map(|b| b.len()).collect::<Vec<_>>(),
            [MAX_BATCH * 5, MAX_BATCH * 5, 5]
        );
        assert_eq!(&batches[0][..5], &[0x12, 3, 0, 0, 0]);
        assert_eq!(&batches[0][5..10], &[0x12, 3, 1, 1, 1]);
        assert_eq!(batches[2], &[0x12, 3, 0, 0, 0]);
        taken.clear();
        assert_eq!(taken.batches().count(), 0);
    }

    #[test]
    fn a_batch_never_holds_more_than_its_bound() {
        let queue = Queue::default();
        // A partial stage first: the full ones after it no longer line up with batches.
        push(&queue, 1).expect("room");
        queue.publish_staged().expect("room");
        for _ in 0..MAX_BATCH * 2 {
            push(&queue, 1).expect("room");
        }
        let counts: Vec<usize> = taken(&queue).batches().map(|(_, count)| count).collect();
        assert_eq!(counts.iter().sum::<usize>(), MAX_BATCH * 2 + 1);
        assert!(counts.iter().all(|&count| count <= MAX_BATCH), "{counts:?}");
    }

    #[test]
    fn every_thread_s_spans_arrive() {
        const THREADS: usize = STAGES + 4;
        const EACH: usize = STAGE_SPANS * 3 + 5;
        let queue = Queue::default();
        std::thread::scope(|scope| {
            for thread in 0..THREADS {
                let queue = &queue;
                scope.spawn(move || {
                    for _ in 0..EACH {
                        push(queue, thread as u8).expect("room");
                    }
                });
            }
        });
        queue.publish_staged().expect("room");
        let taken = taken(&queue);
        assert_eq!(count(&taken), THREADS * EACH);
        let mut per_thread = [0; THREADS];
        for (batch, _) in taken.batches() {
            for span in batch.chunks(5) {
                per_thread[usize::from(span[2])] += 1;
            }
        }
        assert_eq!(per_thread, [EACH; THREADS]);
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
