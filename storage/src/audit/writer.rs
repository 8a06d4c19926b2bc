//! The audit writer: one thread that group-commits records from many in-flight decisions.
//!
//! Calling protocol:
//! 1. Start it once per store with [`AuditWriter::start`] and clone it into every shard.
//! 2. Per decision, call [`AuditWriter::append`] (or `append_blocking`, `try_append`), and send
//!    the response only after it returns Ok.
//! 3. On a clean stop, call [`AuditWriter::shutdown`], which drains the queue and signs every
//!    chain head. Dropping the last clone without `shutdown` stops the thread after the queued
//!    records, without the final checkpoints, as a crash would.

use super::batch::{BatchWriter, Pending, StagedBatch};
use super::entry::{AuditEntry, AuditReceipt, SubjectId};
use super::prepared::{prepare, PreparedEntry};
use crate::error::StorageError;
use crate::store::Store;
use ed25519_dalek::SigningKey;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// A caller's reply slot: completed once the record is durable or has failed.
pub(crate) type ReplySender = oneshot::Sender<Result<AuditReceipt, StorageError>>;

/// A request to the writer thread, handled in queue order.
pub(crate) enum Command {
    /// Append one record, checked and encoded by its caller.
    Append {
        entry: Box<PreparedEntry>,
        reply: ReplySender,
    },
    /// Destroy a subject's keys; ordered with the appends before it.
    Erase {
        subject: SubjectId,
        reply: oneshot::Sender<Result<usize, StorageError>>,
    },
    /// Sign every chain head that has records after its last checkpoint.
    Checkpoint {
        reply: oneshot::Sender<Result<usize, StorageError>>,
    },
    /// Sign every head, then stop.
    Shutdown {
        reply: oneshot::Sender<Result<usize, StorageError>>,
    },
}

struct Shared {
    /// Taken on shutdown, so that no handle keeps the store open after it.
    link: Mutex<Option<Link>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    queue_capacity: usize,
    /// How many records the writer thread has committed since it started.
    committed: Arc<AtomicU64>,
}

/// What a caller needs to prepare an entry and queue it.
#[derive(Clone)]
struct Link {
    sender: mpsc::Sender<Command>,
    store: Store,
}

impl Drop for Shared {
    fn drop(&mut self) {
        // Closing the channel lets the thread finish the queued records and exit; joining it
        // releases its store handle before the caller may reopen the directory.
        self.link.lock().take();
        if let Some(thread) = self.thread.lock().take() {
            if thread.join().is_err() {
                tracing::error!("audit writer thread panicked");
            }
        }
    }
}

/// Handle to the audit writer thread. Cheap to clone; every clone feeds the same queue.
#[derive(Clone)]
pub struct AuditWriter {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for AuditWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditWriter")
            .field("queue_capacity", &self.shared.queue_capacity)
            .finish()
    }
}

impl AuditWriter {
    /// Starts the writer thread on `store`, signing checkpoints with `engine_key` and
    /// registering its public key in the store so `verify` can check them offline.
    pub fn start(store: &Store, engine_key: SigningKey) -> Result<AuditWriter, StorageError> {
        let already = store.inner.writer_running.swap(true, Ordering::SeqCst);
        if already {
            return Err(StorageError::WriterAlreadyRunning);
        }
        let committed = Arc::new(AtomicU64::new(0));
        let batch_writer = match BatchWriter::new(store.clone(), engine_key, committed.clone()) {
            Ok(batch_writer) => batch_writer,
            Err(error) => {
                store.inner.writer_running.store(false, Ordering::SeqCst);
                return Err(error);
            }
        };

        let config = *store.config();
        let queue_capacity = config.audit_queue_records_max.max(1);
        let (sender, receiver) = mpsc::channel(queue_capacity);
        let thread = std::thread::Builder::new()
            .name("axiom-audit-writer".into())
            .spawn(move || run(batch_writer, receiver))
            .map_err(|source| StorageError::Io {
                operation: "spawn audit writer thread",
                path: store.dir().to_path_buf(),
                source,
            })?;

        Ok(AuditWriter {
            shared: Arc::new(Shared {
                link: Mutex::new(Some(Link {
                    sender,
                    store: store.clone(),
                })),
                thread: Mutex::new(Some(thread)),
                queue_capacity,
                committed,
            }),
        })
    }

    fn link(&self) -> Result<Link, StorageError> {
        self.shared
            .link
            .lock()
            .clone()
            .ok_or(StorageError::WriterStopped)
    }

    fn sender(&self) -> Result<mpsc::Sender<Command>, StorageError> {
        Ok(self.link()?.sender)
    }

    /// Checks and encodes `entry` on the calling thread (field limits, a decision index read
    /// for a duplicate decision id, JSON encoding, the subject HMAC), so the writer thread is
    /// left with the chain-ordered work. Returns the queue's sender with the prepared entry;
    /// the store handle is dropped here so that no waiting caller keeps the store open.
    fn prepare(
        &self,
        entry: AuditEntry,
    ) -> Result<(mpsc::Sender<Command>, Box<PreparedEntry>), StorageError> {
        let Link { sender, store } = self.link()?;
        let decision_id = entry.decision.decision_id.clone();
        match prepare(entry, &store, &self.shared.committed) {
            Ok(prepared) => Ok((sender, Box::new(prepared))),
            Err(error) => {
                tracing::warn!(%decision_id, %error, "audit entry rejected");
                Err(error)
            }
        }
    }

    /// Appends a record and returns once it is durable (written and fsynced). Waits while the
    /// queue is full, which applies back-pressure to the caller.
    pub async fn append(&self, entry: AuditEntry) -> Result<AuditReceipt, StorageError> {
        let (sender, entry) = self.prepare(entry)?;
        let (reply, receiver) = oneshot::channel();
        let command = Command::Append { entry, reply };
        sender
            .send(command)
            .await
            .map_err(|_| StorageError::WriterStopped)?;
        receiver.await.map_err(|_| StorageError::WriterStopped)?
    }

    /// Appends a record if the queue has room, else fails at once with `QueueFull`, for callers
    /// that prefer to shed load. The returned future completes once the record is durable.
    /// An invalid or duplicate entry fails at once too.
    pub fn try_append(
        &self,
        entry: AuditEntry,
    ) -> Result<impl std::future::Future<Output = Result<AuditReceipt, StorageError>>, StorageError>
    {
        let (sender, entry) = self.prepare(entry)?;
        let (reply, receiver) = oneshot::channel();
        let command = Command::Append { entry, reply };
        sender
            .try_send(command)
            .map_err(|error| match error {
                mpsc::error::TrySendError::Full(_) => StorageError::QueueFull {
                    capacity: self.shared.queue_capacity,
                },
                mpsc::error::TrySendError::Closed(_) => StorageError::WriterStopped,
            })?;
        Ok(async move { receiver.await.map_err(|_| StorageError::WriterStopped)? })
    }

    /// Blocking form of [`AuditWriter::append`], for threads outside any async runtime.
    /// Fails with `InvalidInput` when called on an async runtime thread, where blocking would
    /// stall every task of that thread.
    pub fn append_blocking(&self, entry: AuditEntry) -> Result<AuditReceipt, StorageError> {
        reject_async_context("append_blocking")?;
        let (sender, entry) = self.prepare(entry)?;
        let (reply, receiver) = oneshot::channel();
        let command = Command::Append { entry, reply };
        sender
            .blocking_send(command)
            .map_err(|_| StorageError::WriterStopped)?;
        receiver
            .blocking_recv()
            .map_err(|_| StorageError::WriterStopped)?
    }

    /// Destroys every key of `subject`, after the records queued before this call are written;
    /// returns how many keys were destroyed. Their records keep verifying, but their personal
    /// data reads back as erased.
    pub async fn erase_subject(&self, subject: SubjectId) -> Result<usize, StorageError> {
        let (reply, receiver) = oneshot::channel();
        self.sender()?
            .send(Command::Erase { subject, reply })
            .await
            .map_err(|_| StorageError::WriterStopped)?;
        receiver.await.map_err(|_| StorageError::WriterStopped)?
    }

    /// Blocking form of [`AuditWriter::erase_subject`].
    pub fn erase_subject_blocking(&self, subject: SubjectId) -> Result<usize, StorageError> {
        reject_async_context("erase_subject_blocking")?;
        let (reply, receiver) = oneshot::channel();
        self.sender()?
            .blocking_send(Command::Erase { subject, reply })
            .map_err(|_| StorageError::WriterStopped)?;
        receiver
            .blocking_recv()
            .map_err(|_| StorageError::WriterStopped)?
    }

    /// Signs every chain head that has unsigned records; returns the number of checkpoints.
    pub async fn checkpoint(&self) -> Result<usize, StorageError> {
        let (reply, receiver) = oneshot::channel();
        self.sender()?
            .send(Command::Checkpoint { reply })
            .await
            .map_err(|_| StorageError::WriterStopped)?;
        receiver.await.map_err(|_| StorageError::WriterStopped)?
    }

    /// Writes every queued record, signs every chain head, and stops the thread; later calls
    /// on any clone fail with `WriterStopped`. Returns the number of checkpoints written.
    /// Blocking: call it from outside an async runtime or through `spawn_blocking`.
    pub fn shutdown(&self) -> Result<usize, StorageError> {
        reject_async_context("shutdown")?;
        let Some(Link { sender, store }) = self.shared.link.lock().take() else {
            return Err(StorageError::WriterStopped);
        };
        drop(store);
        let (reply, receiver) = oneshot::channel();
        sender
            .blocking_send(Command::Shutdown { reply })
            .map_err(|_| StorageError::WriterStopped)?;
        drop(sender);
        let result = receiver
            .blocking_recv()
            .map_err(|_| StorageError::WriterStopped)?;

        if let Some(thread) = self.shared.thread.lock().take() {
            if thread.join().is_err() {
                tracing::error!("audit writer thread panicked");
            }
        }
        result
    }
}

fn reject_async_context(operation: &'static str) -> Result<(), StorageError> {
    if tokio::runtime::Handle::try_current().is_ok() {
        return Err(StorageError::invalid(
            "calling context",
            format!("{operation} blocks and must not run on an async runtime thread; use the async form"),
        ));
    }
    Ok(())
}

/// Runs the writer thread: stages each record as it arrives, commits the batch when it is
/// full, its wait has passed or a control command arrives, and repeats until the channel
/// closes or a shutdown arrives. Staging while the batch fills puts the encryption, hashing
/// and encoding into the wait, so the commit starts soon after the last record arrives.
fn run(mut writer: BatchWriter, mut receiver: mpsc::Receiver<Command>) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            tracing::error!(%error, "audit writer could not start its timer runtime");
            writer.stop();
            return;
        }
    };
    let records_max = writer.config().audit_batch_records_max.max(1);
    let wait = Duration::from_micros(writer.config().audit_batch_wait_us);

    loop {
        let Some(first) = receiver.blocking_recv() else {
            tracing::info!("audit writer stopping: every handle was dropped");
            break;
        };
        let mut staged = writer.open_batch();
        let mut control = None;
        match first {
            Command::Append { entry, reply } => writer.stage(&mut staged, Pending { entry, reply }),
            other => control = Some(other),
        }

        let deadline = Instant::now() + wait;
        while control.is_none() && staged.received() < records_max {
            let next = match receiver.try_recv() {
                Ok(command) => Some(command),
                Err(mpsc::error::TryRecvError::Disconnected) => None,
                Err(mpsc::error::TryRecvError::Empty) => {
                    let remaining = deadline.saturating_duration_since(Instant::now());
                    if remaining.is_zero() {
                        None
                    } else {
                        // The timer must be created inside the runtime, so the whole
                        // wait runs in `block_on`.
                        let wait_for_next =
                            async { tokio::time::timeout(remaining, receiver.recv()).await };
                        runtime.block_on(wait_for_next).ok().flatten()
                    }
                }
            };
            match next {
                Some(Command::Append { entry, reply }) => {
                    writer.stage(&mut staged, Pending { entry, reply })
                }
                Some(other) => control = Some(other),
                None => break,
            }
        }

        writer.commit(staged);

        match control {
            None => {}
            Some(Command::Append { .. }) => {}
            Some(Command::Erase { subject, reply }) => {
                let _ = reply.send(writer.erase_subject(&subject));
            }
            Some(Command::Checkpoint { reply }) => {
                let _ = reply.send(writer.checkpoint_all());
            }
            Some(Command::Shutdown { reply }) => {
                let result = drain_then_checkpoint(&mut writer, &mut receiver, records_max);
                let _ = reply.send(result);
                break;
            }
        }
    }
    writer.stop();
}

/// Commits whatever is still queued behind a shutdown, then signs every head.
fn drain_then_checkpoint(
    writer: &mut BatchWriter,
    receiver: &mut mpsc::Receiver<Command>,
    records_max: usize,
) -> Result<usize, StorageError> {
    receiver.close();
    let mut staged: Option<StagedBatch> = None;
    while let Ok(command) = receiver.try_recv() {
        match command {
            Command::Append { entry, reply } => {
                let batch = match staged.as_mut() {
                    Some(batch) => batch,
                    None => staged.insert(writer.open_batch()),
                };
                writer.stage(batch, Pending { entry, reply });
            }
            Command::Erase { subject, reply } => {
                if let Some(batch) = staged.take() {
                    writer.commit(batch);
                }
                let _ = reply.send(writer.erase_subject(&subject));
            }
            Command::Checkpoint { reply } | Command::Shutdown { reply } => {
                let _ = reply.send(Err(StorageError::WriterStopped));
            }
        }
        if staged
            .as_ref()
            .is_some_and(|batch| batch.received() >= records_max)
        {
            if let Some(batch) = staged.take() {
                writer.commit(batch);
            }
        }
    }
    if let Some(batch) = staged.take() {
        writer.commit(batch);
    }
    let checkpoints = writer.checkpoint_all()?;
    tracing::info!(checkpoints, "audit writer stopped cleanly");
    Ok(checkpoints)
}
