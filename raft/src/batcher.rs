//! Natural batching of client writes: callers queue an encoded command and wait for its own
//! answer; one task takes whatever has queued (no linger timer), bounded by count and bytes, and
//! hands it to the [`Sink`] as one batch, keeping at most `max_in_flight` batches outstanding.
//! While those are in flight the queue fills, so the batch size follows the load: one command
//! per batch when writes come one at a time, many under concurrency.
//!
//! Each caller gets the result the sink gave its own command, so a refused command never fails
//! its neighbours; commands are validated by the caller before they are queued.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, Semaphore};

use crate::error::WriteError;

/// One queued write: the encoded command and how many times it was forwarded already.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Item {
    pub command: Vec<u8>,
    pub hops: u8,
}

/// Bounds of one batch and of the batches outstanding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchLimits {
    /// Most commands in one batch.
    pub max_commands: usize,
    /// Most command bytes in one batch (a single larger command travels alone).
    pub max_bytes: usize,
    /// Most batches proposed or forwarded and not yet answered.
    pub max_in_flight: usize,
}

impl Default for BatchLimits {
    fn default() -> Self {
        Self {
            max_commands: 256,
            max_bytes: 512 * 1024,
            max_in_flight: 2,
        }
    }
}

/// Counters of the batches made so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchStats {
    /// Batches handed to Raft or forwarded.
    pub batches: u64,
    /// Commands in them.
    pub commands: u64,
    /// The largest batch, in commands.
    pub largest: u64,
}

#[derive(Default)]
struct Counters {
    /// Writes accepted into the queue.
    queued: AtomicU64,
    batches: AtomicU64,
    commands: AtomicU64,
    largest: AtomicU64,
}

/// Where a batch goes: proposed as one entry, or forwarded as one call. Answers one result per
/// item, in order.
pub(crate) trait Sink: Clone + Send + Sync + 'static {
    fn submit(
        &self,
        items: Vec<Item>,
    ) -> impl Future<Output = Vec<Result<Vec<u8>, WriteError>>> + Send;
}

struct Job {
    item: Item,
    reply: oneshot::Sender<Result<Vec<u8>, WriteError>>,
}

/// Most writes waiting for a batch; further callers wait for room.
const QUEUE: usize = 4096;

/// The queue in front of a sink. Cheap to clone; the task stops when every clone is dropped.
#[derive(Clone)]
pub(crate) struct Batcher {
    tx: mpsc::Sender<Job>,
    counters: Arc<Counters>,
}

impl Batcher {
    /// Start the batching task on the current runtime.
    pub fn start<S: Sink>(sink: S, limits: BatchLimits) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        let counters = Arc::new(Counters::default());
        tokio::spawn(run(sink, limits, rx, counters.clone()));
        Self { tx, counters }
    }

    /// Queue `command` and wait for its own result.
    pub async fn submit(&self, command: Vec<u8>, hops: u8) -> Result<Vec<u8>, WriteError> {
        let (reply, answer) = oneshot::channel();
        let job = Job {
            item: Item { command, hops },
            reply,
        };
        self.tx
            .send(job)
            .await
            .map_err(|_| WriteError::Fatal("the write batcher stopped".into()))?;
        self.counters.queued.fetch_add(1, Ordering::Relaxed);
        answer
            .await
            .map_err(|_| WriteError::Fatal("the write batcher dropped a write".into()))?
    }

    pub fn stats(&self) -> BatchStats {
        BatchStats {
            batches: self.counters.batches.load(Ordering::Relaxed),
            commands: self.counters.commands.load(Ordering::Relaxed),
            largest: self.counters.largest.load(Ordering::Relaxed),
        }
    }
}

async fn run<S: Sink>(
    sink: S,
    limits: BatchLimits,
    mut rx: mpsc::Receiver<Job>,
    counters: Arc<Counters>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_in_flight.max(1)));
    let max_commands = limits.max_commands.max(1);
    let mut carry: Option<Job> = None;
    loop {
        let first = match carry.take() {
            Some(job) => job,
            None => match rx.recv().await {
                Some(job) => job,
                None => return,
            },
        };
        // Wait for a free slot before draining: whatever queues meanwhile joins this batch.
        let slot = slots
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        let mut bytes = first.item.command.len();
        let mut jobs = vec![first];
        while jobs.len() < max_commands {
            let Ok(job) = rx.try_recv() else { break };
            if bytes + job.item.command.len() > limits.max_bytes {
                carry = Some(job);
                break;
            }
            bytes += job.item.command.len();
            jobs.push(job);
        }
        let n = jobs.len() as u64;
        counters.batches.fetch_add(1, Ordering::Relaxed);
        counters.commands.fetch_add(n, Ordering::Relaxed);
        counters.largest.fetch_max(n, Ordering::Relaxed);
        tracing::trace!(commands = n, bytes, "batch");
        let sink = sink.clone();
        tokio::spawn(async move {
            let (items, replies): (Vec<Item>, Vec<_>) =
                jobs.into_iter().map(|j| (j.item, j.reply)).unzip();
            let expected = items.len();
            let mut results = sink.submit(items).await;
            if results.len() != expected {
                let e = WriteError::Fatal(format!(
                    "a batch of {expected} writes was answered with {} results",
                    results.len()
                ));
                results = vec![Err(e); expected];
            }
            drop(slot);
            for (reply, result) in replies.into_iter().zip(results) {
                // A caller that gave up is gone; the others still get their answers.
                let _ = reply.send(result);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use tokio::sync::Notify;

    use super::*;

    /// Records every batch; answers each command with itself reversed, refuses `bad`, and
    /// holds each batch until the test releases it.
    #[derive(Clone, Default)]
    struct Recorder {
        batches: Arc<Mutex<Vec<Vec<Item>>>>,
        in_flight: Arc<AtomicU64>,
        most_in_flight: Arc<AtomicU64>,
        gate: Arc<Notify>,
        gated: bool,
    }

    impl Sink for Recorder {
        async fn submit(&self, items: Vec<Item>) -> Vec<Result<Vec<u8>, WriteError>> {
            let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            self.most_in_flight.fetch_max(now, Ordering::SeqCst);
            self.batches.lock().expect("lock").push(items.clone());
            if self.gated {
                self.gate.notified().await;
            }
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            items
                .into_iter()
                .map(|i| {
                    if i.command == b"bad" {
                        Err(WriteError::Codec("bad command".into()))
                    } else {
                        let mut c = i.command;
                        c.reverse();
                        Ok(c)
                    }
                })
                .collect()
        }
    }

    impl Recorder {
        fn gated() -> Self {
            Self {
                gated: true,
                ..Self::default()
            }
        }

        fn sizes(&self) -> Vec<usize> {
            self.batches
                .lock()
                .expect("lock")
                .iter()
                .map(Vec::len)
                .collect()
        }

        fn batch_count(&self) -> usize {
            self.batches.lock().expect("lock").len()
        }

        /// Wait until `n` batches were submitted in all.
        async fn until_batches(&self, n: usize) {
            while self.batch_count() < n {
                tokio::task::yield_now().await;
            }
        }
    }

    fn limits(max_commands: usize, max_bytes: usize, max_in_flight: usize) -> BatchLimits {
        BatchLimits {
            max_commands,
            max_bytes,
            max_in_flight,
        }
    }

    /// Queue `commands` while the one batch in flight is held, then release everything.
    async fn queued_behind_a_held_batch(
        sink: &Recorder,
        batcher: &Batcher,
        commands: Vec<Vec<u8>>,
    ) -> Vec<Result<Vec<u8>, WriteError>> {
        let first = tokio::spawn({
            let b = batcher.clone();
            async move { b.submit(b"first".to_vec(), 0).await }
        });
        sink.until_batches(1).await;
        let waiting: Vec<_> = commands
            .into_iter()
            .map(|c| {
                let b = batcher.clone();
                tokio::spawn(async move { b.submit(c, 0).await })
            })
            .collect();
        // The task takes at most one of them while the held batch keeps the only slot.
        let all = 1 + waiting.len() as u64;
        while batcher.counters.queued.load(Ordering::Relaxed) < all {
            tokio::task::yield_now().await;
        }
        let release = tokio::spawn({
            let sink = sink.clone();
            async move {
                loop {
                    sink.gate.notify_waiters();
                    tokio::task::yield_now().await;
                }
            }
        });
        assert_eq!(first.await.expect("join"), Ok(b"tsrif".to_vec()));
        let mut out = Vec::new();
        for w in waiting {
            out.push(w.await.expect("join"));
        }
        release.abort();
        out
    }

    #[tokio::test]
    async fn writes_queued_during_a_batch_share_the_next_one_and_get_their_own_answers() {
        let sink = Recorder::gated();
        let batcher = Batcher::start(sink.clone(), limits(100, 1 << 20, 1));
        let commands: Vec<Vec<u8>> = (0..10).map(|i| format!("cmd-{i}").into_bytes()).collect();
        let results = queued_behind_a_held_batch(&sink, &batcher, commands.clone()).await;
        for (c, r) in commands.iter().zip(&results) {
            let mut want = c.clone();
            want.reverse();
            assert_eq!(r, &Ok(want));
        }
        assert_eq!(sink.sizes(), vec![1, 10]);
        let stats = batcher.stats();
        assert_eq!((stats.batches, stats.commands, stats.largest), (2, 11, 10));
    }

    #[tokio::test]
    async fn a_refused_command_does_not_fail_its_neighbours() {
        let sink = Recorder::gated();
        let batcher = Batcher::start(sink.clone(), limits(100, 1 << 20, 1));
        let commands = vec![b"a".to_vec(), b"bad".to_vec(), b"c".to_vec()];
        let results = queued_behind_a_held_batch(&sink, &batcher, commands).await;
        assert_eq!(results[0], Ok(b"a".to_vec()));
        assert!(matches!(results[1], Err(WriteError::Codec(_))));
        assert_eq!(results[2], Ok(b"c".to_vec()));
        assert_eq!(sink.sizes(), vec![1, 3]);
    }

    #[tokio::test]
    async fn batches_respect_the_count_and_byte_bounds() {
        let sink = Recorder::gated();
        let batcher = Batcher::start(sink.clone(), limits(4, 1 << 20, 1));
        let commands: Vec<Vec<u8>> = (0..10).map(|i| vec![b'x', i]).collect();
        let results = queued_behind_a_held_batch(&sink, &batcher, commands).await;
        assert!(results.iter().all(Result::is_ok));
        assert_eq!(sink.sizes(), vec![1, 4, 4, 2]);

        // 10 bytes per batch: two 4-byte commands fit, a third does not; an oversized one
        // travels alone.
        let sink = Recorder::gated();
        let batcher = Batcher::start(sink.clone(), limits(100, 10, 1));
        let commands = vec![vec![1; 4], vec![2; 4], vec![3; 4], vec![4; 30], vec![5; 4]];
        let results = queued_behind_a_held_batch(&sink, &batcher, commands).await;
        assert!(results.iter().all(Result::is_ok));
        assert_eq!(sink.sizes(), vec![1, 2, 1, 1, 1]);
        let lens: Vec<Vec<usize>> = sink
            .batches
            .lock()
            .expect("lock")
            .iter()
            .map(|b| b.iter().map(|i| i.command.len()).collect())
            .collect();
        assert_eq!(lens[1..], [vec![4, 4], vec![4], vec![30], vec![4]]);
    }

    #[tokio::test]
    async fn no_more_batches_in_flight_than_the_bound() {
        let sink = Recorder::gated();
        let batcher = Batcher::start(sink.clone(), limits(1, 1 << 20, 2));
        let callers: Vec<_> = (0..6u8)
            .map(|i| {
                let b = batcher.clone();
                tokio::spawn(async move { b.submit(vec![i], 0).await })
            })
            .collect();
        sink.until_batches(2).await;
        // Two are held; the others stay queued however long the runtime runs.
        for _ in 0..100 {
            tokio::task::yield_now().await;
        }
        assert_eq!(sink.batch_count(), 2);
        assert_eq!(sink.in_flight.load(Ordering::SeqCst), 2);
        let release = tokio::spawn({
            let sink = sink.clone();
            async move {
                loop {
                    sink.gate.notify_waiters();
                    tokio::task::yield_now().await;
                }
            }
        });
        for c in callers {
            assert!(c.await.expect("join").is_ok());
        }
        release.abort();
        assert_eq!(sink.batch_count(), 6);
        assert_eq!(sink.most_in_flight.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn hops_travel_with_each_command() {
        let sink = Recorder::default();
        let batcher = Batcher::start(sink.clone(), BatchLimits::default());
        batcher.submit(b"x".to_vec(), 1).await.expect("written");
        let batches = sink.batches.lock().expect("lock").clone();
        assert_eq!(
            batches,
            vec![vec![Item {
                command: b"x".to_vec(),
                hops: 1
            }]]
        );
    }
}
