//! The storage error type, grouped by who is at fault: the caller's input, the disk, the stored
//! data's integrity, or the writer's lifecycle.

use std::path::PathBuf;

/// Everything that can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// Another process (usually a running server) holds the data directory's lock.
    #[error(
        "data directory `{}` is locked by another process; stop the server that uses it, \
         or copy the directory and point the command at the copy",
        dir.display()
    )]
    Locked {
        /// The directory that could not be opened.
        dir: PathBuf,
    },

    /// fjall reported an error while opening, reading or writing.
    #[error("storage {operation} failed: {source}")]
    Fjall {
        /// What the store was doing, for example `open` or `read audit record`.
        operation: &'static str,
        /// The error from fjall.
        #[source]
        source: fjall::Error,
    },

    /// A write or its fsync failed, so nothing in the batch was acknowledged as durable.
    #[error("audit batch write failed, record not durable: {message}")]
    WriteFailed {
        /// The underlying error, as text because it is sent to every caller in the batch.
        message: String,
    },

    /// The caller passed a value the store cannot accept (too long, empty, malformed).
    #[error("invalid {field}: {reason}")]
    InvalidInput {
        /// Which field or argument.
        field: &'static str,
        /// Why it was rejected, with the limit where one applies.
        reason: String,
    },

    /// A value could not be encoded as JSON.
    #[error("failed to encode {what} as JSON: {source}")]
    Encode {
        /// What was being encoded.
        what: &'static str,
        /// The serde error.
        #[source]
        source: serde_json::Error,
    },

    /// Stored bytes do not decode or do not match their hash: the data was damaged or altered.
    #[error("stored {what} is corrupt: {detail}")]
    Corrupt {
        /// What was being read, for example `audit record shard 3 seq 17`.
        what: String,
        /// What is wrong with it.
        detail: String,
    },

    /// The entry already exists where a new one was required.
    #[error("{what} `{id}` already exists")]
    AlreadyExists {
        /// Which kind of entry.
        what: &'static str,
        /// Its id.
        id: String,
    },

    /// The audit queue is full; the caller chose to shed the request instead of waiting.
    #[error("audit queue is full ({capacity} records waiting); retry later")]
    QueueFull {
        /// The queue's capacity, in records.
        capacity: usize,
    },

    /// The audit writer thread has stopped (after shutdown or a fatal write error).
    #[error("audit writer has stopped; no record can be written")]
    WriterStopped,

    /// An audit writer is already running on this store; only one may append to the chains.
    #[error("an audit writer is already running on this store")]
    WriterAlreadyRunning,

    /// Encryption of personal data failed.
    #[error("failed to encrypt personal data of decision `{decision_id}`")]
    Encrypt {
        /// The decision whose record was being written.
        decision_id: String,
    },

    /// A filesystem operation outside fjall failed.
    #[error("{operation} failed on `{}`: {source}", path.display())]
    Io {
        /// What was being done.
        operation: &'static str,
        /// On which path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

impl StorageError {
    /// Wraps a fjall error with the operation that failed.
    pub(crate) fn fjall(operation: &'static str) -> impl FnOnce(fjall::Error) -> StorageError {
        move |source| StorageError::Fjall { operation, source }
    }

    /// Builds a corruption error.
    pub(crate) fn corrupt(what: impl Into<String>, detail: impl Into<String>) -> StorageError {
        StorageError::Corrupt {
            what: what.into(),
            detail: detail.into(),
        }
    }

    /// Builds an invalid-input error.
    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> StorageError {
        StorageError::InvalidInput {
            field,
            reason: reason.into(),
        }
    }
}
