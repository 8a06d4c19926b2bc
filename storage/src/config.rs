//! Store configuration: every limit is named with its unit and its reason.

/// Longest tenant id accepted in a key, in bytes. Tenant ids are short slugs; the bound keeps
/// every composite key far below lsm-tree's 65,535-byte key limit, above which it panics.
pub const TENANT_BYTES_MAX: usize = 256;

/// Longest entry id (key id, escrow id, decision id, stream id …) accepted in a key, in bytes.
/// Same reason as [`TENANT_BYTES_MAX`].
pub const ID_BYTES_MAX: usize = 512;

/// Largest encoded value accepted by a typed table, in bytes (1 MiB). Key records, policy
/// versions and escrows are a few KiB; the bound stops one bad caller from writing huge values.
pub const VALUE_BYTES_MAX: usize = 1024 * 1024;

/// Settings for [`crate::Store::open`] and the audit writer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreConfig {
    /// Most records one group commit writes before its fsync. Bigger batches spread the fsync
    /// (about 245 µs on the development machine) over more records, but a caller waits for the
    /// whole batch. 256 records of about 1 KiB each is 256 KiB per batch.
    pub audit_batch_records_max: usize,
    /// Longest time the writer waits for more records after the first one of a batch arrives,
    /// in microseconds. 0 commits whatever is queued at once; the queue still fills while the
    /// previous fsync runs, so batching happens under load either way.
    pub audit_batch_wait_us: u64,
    /// Capacity of the queue in front of the writer, in records. A full queue applies
    /// back-pressure (`append` waits) or sheds (`try_append` returns `QueueFull`). 8192 records
    /// is about 8 MiB of pending entries and about 100 ms of work at the writer's measured rate.
    pub audit_queue_records_max: usize,
    /// A signed checkpoint of a shard's chain head is written every this many records of that
    /// shard (and on clean shutdown). Smaller values leave fewer unsigned tail records.
    pub audit_checkpoint_interval_records: u64,
    /// Largest encoded audit record, in bytes (256 KiB). Facts and responses are a few KiB; the
    /// bound keeps one decision from stalling a batch.
    pub audit_record_bytes_max: usize,
    /// Number of records at the end of each chain whose hashes are recomputed when the store opens.
    pub recovery_tail_check_records: u64,
    /// fjall block cache size, in bytes.
    pub cache_bytes: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            audit_batch_records_max: 256,
            audit_batch_wait_us: 100,
            audit_queue_records_max: 8192,
            audit_checkpoint_interval_records: 1024,
            audit_record_bytes_max: 256 * 1024,
            recovery_tail_check_records: 64,
            cache_bytes: 64 * 1024 * 1024,
        }
    }
}
