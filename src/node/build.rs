//! Building a node from its settings: data directory, engine key, store, shards, solvers,
//! and the state restored from disk. Recovery finishes here, before any endpoint listens.

use super::config::{ServeArgs, SmtBackendName};
use super::metrics::{Metrics, SolverPoolStats, SystemClock};
use super::policies::{PolicyRegistry, PublishedPolicy};
use super::recovery::StoreRecovery;
use super::Node;
use anyhow::{anyhow, Context};
use axiom_engine::crypto::{base64url_decode, EngineKey, KeyFile, KeyPair};
use axiom_engine::incidents::IncidentTracker;
use axiom_engine::keys::KeyRegistry;
use axiom_engine::lifecycle::{PolicyState, PolicyVersion};
use axiom_engine::settings::RuntimeSettings;
use axiom_engine::shard::{ShardConfig, ShardSet};
use axiom_engine::smt::{SmtBackend, SmtConfig, SolverPool};
use axiom_engine::state::SourceStore;
use axiom_storage::{AuditWriter, Store, StoreConfig};
use ed25519_dalek::SigningKey;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// File name of the engine's signing key inside the data directory.
pub const ENGINE_KEY_FILE: &str = "engine.key";
/// Folder of the fjall store inside the data directory.
pub const STORE_DIR: &str = "store";
/// Most published policy versions loaded at start.
const POLICY_VERSIONS_MAX: usize = 100_000;

/// Loads the engine key from the data directory, generating it on first start.
pub fn load_or_create_engine_key(data_dir: &Path) -> anyhow::Result<(EngineKey, SigningKey)> {
    let path = data_dir.join(ENGINE_KEY_FILE);
    let pair = if path.exists() {
        let text = std::fs::read(&path)
            .with_context(|| format!("reading engine key {}", path.display()))?;
        KeyPair::from_key_file_json(&text)
            .map_err(|error| anyhow!("engine key {} is invalid: {error}", path.display()))?
    } else {
        let pair = KeyPair::generate();
        let json = serde_json::to_vec_pretty(&pair.to_key_file())?;
        write_secret_file(&path, &json)?;
        tracing::info!(path = %path.display(), kid = pair.kid(), "engine key generated");
        pair
    };

    let file: KeyFile = pair.to_key_file();
    let secret = base64url_decode(&file.secret_key)
        .map_err(|error| anyhow!("engine key secret is invalid: {error}"))?;
    let secret: [u8; 32] = secret
        .try_into()
        .map_err(|_| anyhow!("engine key secret must be 32 bytes"))?;
    Ok((EngineKey::from_key_pair(pair), SigningKey::from_bytes(&secret)))
}

/// Writes a file readable only by its owner.
pub fn write_secret_file(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(contents)?;
    file.sync_all()?;
    Ok(())
}

/// Makes the data directory readable only by its owner: it holds the engine key, the TLS key
/// and the per-subject encryption keys.
fn restrict_to_owner(data_dir: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(data_dir, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("restricting {} to its owner", data_dir.display()))?;
    }
    Ok(())
}

/// Refuses to start the `z3-process` backend when `Z3_PATH` is not an executable file, so a
/// missing solver is an error at start rather than a stream of SMT failures later.
fn check_solver_binary(config: &ServeArgs) -> anyhow::Result<()> {
    if config.smt_backend != SmtBackendName::Z3Process {
        return Ok(());
    }
    let metadata = std::fs::metadata(&config.z3_path).map_err(|error| {
        anyhow!(
            "SMT_BACKEND=z3-process needs the z3 binary, but Z3_PATH {} is unusable: {error}; install it (Debian: apt-get install z3) or set Z3_PATH",
            config.z3_path.display()
        )
    })?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if !metadata.is_file() || metadata.permissions().mode() & 0o111 == 0 {
            return Err(anyhow!(
                "Z3_PATH {} is not an executable file",
                config.z3_path.display()
            ));
        }
    }
    Ok(())
}

fn smt_config(config: &ServeArgs) -> SmtConfig {
    let backend = match config.smt_backend {
        SmtBackendName::Z3 => SmtBackend::InProcess,
        SmtBackendName::Z3Process => SmtBackend::Process {
            z3_path: config.z3_path.clone(),
        },
        SmtBackendName::Disabled => SmtBackend::Disabled,
    };
    SmtConfig {
        backend,
        workers: config.smt_worker_count(),
        queue_max: config.smt_queue_max,
        timeout_ms: config.smt_timeout_ms,
    }
}

/// Compiles and registers every published policy version in the store.
fn restore_policies(store: &Store, policies: &PolicyRegistry) -> anyhow::Result<usize> {
    let versions: Vec<(String, String, PolicyVersion)> = store
        .policy_versions()
        .list_all(POLICY_VERSIONS_MAX)
        .context("reading policy versions")?;
    let mut published = 0;
    for (tenant, id, version) in versions {
        if version.state != PolicyState::Published {
            continue;
        }
        let compiled = axiom_engine::policy::compile(&version.source).map_err(|diagnostics| {
            anyhow!(
                "published policy `{id}` of tenant `{tenant}` no longer compiles: {diagnostics:?}"
            )
        })?;
        policies.publish(
            &tenant,
            PublishedPolicy {
                policy_set_id: compiled.policy_set_id(),
                source: version.source.clone(),
                compiled: Arc::new(compiled),
            },
        );
        published += 1;
    }
    Ok(published)
}

impl Node {
    /// Opens the data directory, recovers every piece of durable state and starts the shard
    /// actors and solver pool. Must run inside an actix System. The node is not ready until
    /// the caller has bound its endpoints and called [`Node::mark_ready`].
    pub fn start(config: ServeArgs) -> anyhow::Result<Arc<Node>> {
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("creating data directory {}", config.data_dir.display()))?;
        restrict_to_owner(&config.data_dir)?;
        check_solver_binary(&config)?;
        let (engine_key, signing_key) = load_or_create_engine_key(&config.data_dir)?;

        let store_config = StoreConfig {
            audit_batch_records_max: config.audit_batch_records_max,
            audit_batch_wait_us: config.audit_batch_wait_us,
            ..StoreConfig::default()
        };
        let store = Store::open(&config.data_dir.join(STORE_DIR), store_config)
            .with_context(|| format!("opening the store in {}", config.data_dir.display()))?;
        let audit_log = AuditWriter::start(&store, signing_key).context("starting the audit writer")?;

        let settings = Arc::new(RuntimeSettings::new(config.settings()));
        let sources = Arc::new(SourceStore::new());
        let metrics = Arc::new(Metrics::new(Arc::new(SystemClock)));
        metrics.attach_sources(Arc::clone(&sources));

        let shard_config = ShardConfig {
            shard_count: config.shards,
            ..ShardConfig::default()
        };
        let recovery = Arc::new(StoreRecovery::new(
            store.clone(),
            Arc::clone(&settings),
            config.shards,
        ));
        let shards = ShardSet::start(shard_config, Arc::clone(&settings), recovery)
            .map_err(|error| anyhow!("starting the shard actors failed: {error}"))?;

        let solver = SolverPool::start(smt_config(&config));
        let solver_stats = Arc::clone(solver.stats());
        metrics.attach_solver_stats(move || SolverPoolStats::from_stats(&solver_stats));

        let policies = PolicyRegistry::new();
        let published = restore_policies(&store, &policies)?;

        let node = Arc::new(Node {
            config,
            settings,
            sources,
            incidents: Arc::new(IncidentTracker::default()),
            keys: Arc::new(KeyRegistry::new()),
            store,
            metrics,
            policies,
            budgets: dashmap::DashMap::new(),
            restrictions: dashmap::DashSet::new(),
            workflow: super::workflow::WorkflowState::default(),
            shards,
            solver,
            audit_log,
            engine_key,
            ready: AtomicBool::new(false),
            audit_failed: AtomicBool::new(false),
        });

        crate::http::restore_state(&node).map_err(|error| anyhow!("restoring state failed: {error}"))?;
        node.restore_budgets()?;
        node.restore_workflow()?;
        super::workflow::start_escrow_sweep(&node);
        tracing::info!(
            data_dir = %node.config.data_dir.display(),
            published_policies = published,
            keys = node.keys.len(),
            "node recovered"
        );
        Ok(node)
    }

    /// Waits until every shard has recovered its protection state and serves, so the node is
    /// announced ready only when no request can meet a recovering shard. Fails after
    /// `timeout`, naming the shards still recovering.
    pub async fn wait_for_shards(&self, timeout: std::time::Duration) -> anyhow::Result<()> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let mut recovering = Vec::new();
            for index in 0..self.shards.shard_count() {
                let ready = self
                    .shards
                    .stats(index)
                    .await
                    .is_some_and(|stats| stats.ready);
                if !ready {
                    recovering.push(index);
                }
            }
            if recovering.is_empty() {
                return Ok(());
            }
            if std::time::Instant::now() > deadline {
                return Err(anyhow!(
                    "shards {recovering:?} did not recover within {} s",
                    timeout.as_secs()
                ));
            }
            actix_rt::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// Opens both endpoints to traffic (`GET /readyz` turns 200).
    pub fn mark_ready(&self) {
        self.ready.store(true, Ordering::Release);
    }
}
