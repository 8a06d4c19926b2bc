//! The store: one fjall database holding every keyspace, opened once per process.

use crate::audit::chain::{self, ChainHead};
use crate::config::StoreConfig;
use crate::error::StorageError;
use crate::ledger::{ComplianceLog, SettingsLog};
use crate::table::Table;
use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode};
use rand::RngCore;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// Meta key of the HMAC-SHA256 key that turns subject ids into index keys.
const META_INDEX_KEY: &[u8] = b"index_key";
/// Prefix of the meta keys that register an engine public key (32 bytes follow).
pub(crate) const META_ENGINE_KEY_PREFIX: &[u8] = b"engine_key/";

/// The handles of every keyspace. Each concern has its own keyspace so that a scan of one
/// never reads another's data.
#[derive(Clone)]
pub(crate) struct Keyspaces {
    /// Store-wide secrets and registrations: the index key, the engine public keys.
    pub meta: Keyspace,
    /// Audit records, key `(shard u32, seq u64)` big-endian, value `record hash ‖ body JSON`.
    pub audit_records: Keyspace,
    /// Decision id → record key.
    pub audit_by_decision: Keyspace,
    /// `(tenant, time_ms, shard, seq)` → empty.
    pub audit_by_tenant: Keyspace,
    /// `(HMAC(subject id), time_ms, shard, seq)` → empty.
    pub audit_by_actor: Keyspace,
    /// `(time_ms, shard, seq)` → empty.
    pub audit_by_time: Keyspace,
    /// Signed chain heads, key `(shard, seq)`.
    pub audit_checkpoints: Keyspace,
    /// Sequence high-water marks, key `(tenant, stream id)`, value u64 big-endian.
    pub sequence_marks: Keyspace,
    /// Per-subject encryption keys, key `(HMAC(subject id), key id)`; an empty value marks an
    /// erased key.
    pub subject_keys: Keyspace,
}

pub(crate) struct StoreInner {
    pub dir: PathBuf,
    pub config: StoreConfig,
    pub db: Database,
    pub keyspaces: Keyspaces,
    /// HMAC-SHA256 key for the actor index and subject key lookups, random per store.
    pub index_key: [u8; 32],
    /// Set while an audit writer runs; only one may append to the chains.
    pub writer_running: AtomicBool,
    /// Chain heads found when the store was opened, after the tail check.
    pub heads_at_open: BTreeMap<u32, ChainHead>,
    pub tables: Tables,
    pub settings: SettingsLog,
    pub compliance: ComplianceLog,
}

/// The typed tables of the control plane and shard state.
pub(crate) struct Tables {
    pub keys: Table,
    pub policy_versions: Table,
    pub escrows: Table,
    pub incidents: Table,
    pub sources: Table,
    pub budgets: Table,
    pub idempotency: Table,
}

/// All durable state of one axiom server. Cheap to clone: clones share the database.
///
/// Open it once per process with [`Store::open`]; fjall locks the directory, so a second open
/// (from this or another process) fails with [`StorageError::Locked`].
#[derive(Clone)]
pub struct Store {
    pub(crate) inner: Arc<StoreInner>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("dir", &self.inner.dir)
            .finish()
    }
}

impl Store {
    /// Opens (or creates) the store in `dir` and checks the tail of every audit chain.
    ///
    /// fjall 3.1 has a single journal recovery mode, which drops a torn batch at the end of the
    /// journal and fails on any other damage. That is the right mode here: a torn final batch
    /// was never fsynced, so none of its records was acknowledged.
    ///
    /// Fails with [`StorageError::Corrupt`] when the last `recovery_tail_check_records` records
    /// of a chain do not hash and link correctly, because appending to a damaged chain would
    /// hide the damage. Run `axiom audit verify` to locate it.
    pub fn open(dir: &Path, config: StoreConfig) -> Result<Store, StorageError> {
        let mut inner = open_inner(dir, config)?;
        inner.heads_at_open =
            chain::check_tails(&inner.keyspaces, config.recovery_tail_check_records)?;

        tracing::info!(
            dir = %dir.display(),
            chains = inner.heads_at_open.len(),
            "store opened"
        );
        Ok(Store {
            inner: Arc::new(inner),
        })
    }

    /// Opens the store without checking the chains, for the offline tools that report damage.
    pub fn open_unchecked(dir: &Path, config: StoreConfig) -> Result<Store, StorageError> {
        Ok(Store {
            inner: Arc::new(open_inner(dir, config)?),
        })
    }

    /// The directory this store lives in.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The configuration the store was opened with.
    pub fn config(&self) -> &StoreConfig {
        &self.inner.config
    }

    /// Agent key records, keyed `(tenant, kid)`, as the engine's JSON.
    pub fn keys(&self) -> &Table {
        &self.inner.tables.keys
    }

    /// Policy versions, keyed `(tenant, version id)`; transitions use compare-and-set.
    pub fn policy_versions(&self) -> &Table {
        &self.inner.tables.policy_versions
    }

    /// Escrows, keyed `(tenant, escrow id)`; transitions use compare-and-set.
    pub fn escrows(&self) -> &Table {
        &self.inner.tables.escrows
    }

    /// Incidents, keyed `(tenant, incident id)`.
    pub fn incidents(&self) -> &Table {
        &self.inner.tables.incidents
    }

    /// Source freshness state, keyed `(tenant, source id)`.
    pub fn sources(&self) -> &Table {
        &self.inner.tables.sources
    }

    /// Budgets, keyed `(tenant, budget code)`.
    pub fn budgets(&self) -> &Table {
        &self.inner.tables.budgets
    }

    /// Idempotency entries, keyed `(tenant, entry id)`; the caller builds the id from the actor
    /// and the idempotency key.
    pub fn idempotency(&self) -> &Table {
        &self.inner.tables.idempotency
    }

    /// Runtime settings with their change history.
    pub fn settings(&self) -> &SettingsLog {
        &self.inner.settings
    }

    /// The append-only `compliance_events` log. It has no update or delete.
    pub fn compliance_events(&self) -> &ComplianceLog {
        &self.inner.compliance
    }

    /// Forces everything written so far to disk with fsync.
    pub fn persist(&self) -> Result<(), StorageError> {
        self.inner
            .db
            .persist(PersistMode::SyncAll)
            .map_err(StorageError::fjall("persist"))
    }
}

/// Opens the database and every keyspace, creating them on first use.
fn open_inner(dir: &Path, config: StoreConfig) -> Result<StoreInner, StorageError> {
    let db = Database::builder(dir)
        .cache_size(config.cache_bytes)
        .open()
        .map_err(|error| match error {
            fjall::Error::Locked => StorageError::Locked {
                dir: dir.to_path_buf(),
            },
            source => StorageError::Fjall {
                operation: "open",
                source,
            },
        })?;

    let open = |name: &str| {
        db.keyspace(name, KeyspaceCreateOptions::default)
            .map_err(StorageError::fjall("open keyspace"))
    };
    let keyspaces = Keyspaces {
        meta: open("meta")?,
        audit_records: open("audit_records")?,
        audit_by_decision: open("audit_by_decision")?,
        audit_by_tenant: open("audit_by_tenant")?,
        audit_by_actor: open("audit_by_actor")?,
        audit_by_time: open("audit_by_time")?,
        audit_checkpoints: open("audit_checkpoints")?,
        sequence_marks: open("sequence_marks")?,
        subject_keys: open("subject_keys")?,
    };

    let table = |name: &'static str| -> Result<Table, StorageError> {
        Ok(Table::new(name, db.clone(), open(name)?))
    };
    let tables = Tables {
        keys: table("keys")?,
        policy_versions: table("policy_versions")?,
        escrows: table("escrows")?,
        incidents: table("incidents")?,
        sources: table("sources")?,
        budgets: table("budgets")?,
        idempotency: table("idempotency")?,
    };
    let settings = SettingsLog::new(db.clone(), open("settings")?, open("settings_history")?)?;
    let compliance = ComplianceLog::new(db.clone(), open("compliance_events")?)?;
    let index_key = load_or_create_index_key(&db, &keyspaces.meta)?;

    Ok(StoreInner {
        dir: dir.to_path_buf(),
        config,
        db,
        keyspaces,
        index_key,
        writer_running: AtomicBool::new(false),
        heads_at_open: BTreeMap::new(),
        tables,
        settings,
        compliance,
    })
}

/// Loads the index key, creating and persisting a random one on first open.
fn load_or_create_index_key(db: &Database, meta: &Keyspace) -> Result<[u8; 32], StorageError> {
    let stored = meta
        .get(META_INDEX_KEY)
        .map_err(StorageError::fjall("read index key"))?;
    if let Some(bytes) = stored {
        return <[u8; 32]>::try_from(bytes.as_ref())
            .map_err(|_| StorageError::corrupt("index key", "is not 32 bytes"));
    }

    let mut key = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut key);
    let mut batch = db.batch().durability(Some(PersistMode::SyncAll));
    batch.insert(meta, META_INDEX_KEY, key.to_vec());
    batch
        .commit()
        .map_err(StorageError::fjall("write index key"))?;
    Ok(key)
}
