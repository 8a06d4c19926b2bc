//! TLS identities: a certificate chain with its private key, loaded from PEM files or generated
//! once into the data directory.

use crate::error::TransportError;
use crate::fingerprint::Fingerprint;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::fmt;
use std::fs;
use std::io::{BufReader, Write};
use std::path::{Path, PathBuf};

/// Directory under the data directory that contains the generated identity.
pub const TLS_DIR_NAME: &str = "tls";
/// File name of the generated certificate.
pub const CERT_FILE_NAME: &str = "cert.pem";
/// File name of the generated private key, written with mode 0600.
pub const KEY_FILE_NAME: &str = "key.pem";

/// A certificate chain (end-entity certificate first) and the private key of its end-entity
/// certificate. Construction checks that the key can sign for the certificate.
pub struct TlsIdentity {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

impl TlsIdentity {
    /// Loads a certificate chain and a private key from PEM files.
    pub fn from_pem_files(cert_path: &Path, key_path: &Path) -> Result<Self, TransportError> {
        let chain = read_certificates(cert_path)?;
        if chain.is_empty() {
            return Err(TransportError::NoCertificate {
                path: cert_path.to_path_buf(),
            });
        }
        let key = read_private_key(key_path)?;
        TlsIdentity::from_der(chain, key).map_err(|source| TransportError::KeyMismatch {
            cert_path: cert_path.to_path_buf(),
            key_path: key_path.to_path_buf(),
            source,
        })
    }

    /// Loads the identity stored in `data_dir/tls/`, or generates a self-signed one there on
    /// first start.
    ///
    /// The key is written before the certificate, each through a temporary file and a rename,
    /// so an interrupted first start leaves at most a key without a certificate. That key was
    /// never published and is replaced. A certificate without its key is an error, because
    /// clients may already pin it.
    pub fn load_or_generate(
        data_dir: &Path,
        subject_alt_names: &[String],
    ) -> Result<Self, TransportError> {
        let dir = data_dir.join(TLS_DIR_NAME);
        let cert_path = dir.join(CERT_FILE_NAME);
        let key_path = dir.join(KEY_FILE_NAME);

        match (cert_path.exists(), key_path.exists()) {
            (true, true) => {
                check_key_permissions(&key_path)?;
                let identity = TlsIdentity::from_pem_files(&cert_path, &key_path)?;
                tracing::info!(
                    path = %cert_path.display(),
                    fingerprint = %identity.fingerprint(),
                    "loaded TLS identity"
                );
                Ok(identity)
            }
            (true, false) => Err(TransportError::IncompleteIdentity { cert_path, key_path }),
            (false, key_exists) => {
                if key_exists {
                    tracing::warn!(
                        path = %key_path.display(),
                        "replacing a private key left without a certificate by an interrupted start"
                    );
                }
                generate_into(&dir, &cert_path, &key_path, subject_alt_names)
            }
        }
    }

    /// Generates a self-signed identity in memory, for tests and short-lived clients.
    pub fn generate_self_signed(subject_alt_names: &[String]) -> Result<Self, TransportError> {
        let generated = rcgen::generate_simple_self_signed(subject_alt_names.to_vec())?;
        let key = PrivateKeyDer::Pkcs8(generated.key_pair.serialize_der().into());
        let chain = vec![generated.cert.der().clone()];
        Ok(TlsIdentity::from_der(chain, key)?)
    }

    /// Builds an identity from DER values, checking that the key signs for the end-entity
    /// certificate.
    pub fn from_der(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Result<Self, rustls::Error> {
        let provider = rustls::crypto::ring::default_provider();
        rustls::sign::CertifiedKey::from_der(chain.clone(), key.clone_key(), &provider)?;
        Ok(TlsIdentity { chain, key })
    }

    /// Returns the lowercase hex SHA-256 fingerprint of the end-entity certificate.
    pub fn fingerprint(&self) -> Fingerprint {
        match self.chain.first() {
            Some(end_entity) => Fingerprint::of_der(end_entity),
            // Unreachable: every constructor rejects an empty chain, through `NoCertificate`
            // or through rustls' `CertifiedKey::from_der`.
            None => Fingerprint::of_der(&[]),
        }
    }

    /// Returns the certificate chain, end-entity certificate first.
    pub fn chain(&self) -> &[CertificateDer<'static>] {
        &self.chain
    }

    pub(crate) fn chain_owned(&self) -> Vec<CertificateDer<'static>> {
        self.chain.clone()
    }

    pub(crate) fn key_owned(&self) -> PrivateKeyDer<'static> {
        self.key.clone_key()
    }
}

impl Clone for TlsIdentity {
    fn clone(&self) -> Self {
        TlsIdentity {
            chain: self.chain.clone(),
            key: self.key.clone_key(),
        }
    }
}

impl fmt::Debug for TlsIdentity {
    /// Shows the fingerprint only, never the key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsIdentity")
            .field("fingerprint", &self.fingerprint())
            .field("chain_len", &self.chain.len())
            .finish_non_exhaustive()
    }
}

/// Reads every `CERTIFICATE` block of a PEM file, in file order.
pub(crate) fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TransportError> {
    let file = fs::File::open(path).map_err(|source| TransportError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mut reader = BufReader::new(file);
    rustls_pemfile::certs(&mut reader)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| TransportError::Read {
            path: path.to_path_buf(),
            source,
        })
}

fn read_private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TransportError> {
    let file = fs::File::open(path).map_err(|source| TransportError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mut reader = BufReader::new(file);
    match rustls_pemfile::private_key(&mut reader) {
        Ok(Some(key)) => Ok(key),
        Ok(None) => Err(TransportError::NoPrivateKey {
            path: path.to_path_buf(),
        }),
        Err(source) => Err(TransportError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

fn generate_into(
    dir: &Path,
    cert_path: &Path,
    key_path: &Path,
    subject_alt_names: &[String],
) -> Result<TlsIdentity, TransportError> {
    create_private_dir(dir)?;

    let generated = rcgen::generate_simple_self_signed(subject_alt_names.to_vec())?;
    write_atomically(key_path, generated.key_pair.serialize_pem().as_bytes(), 0o600)?;
    write_atomically(cert_path, generated.cert.pem().as_bytes(), 0o644)?;
    sync_dir(dir)?;

    let identity = TlsIdentity::from_pem_files(cert_path, key_path)?;
    tracing::info!(
        path = %cert_path.display(),
        fingerprint = %identity.fingerprint(),
        subject_alt_names = ?subject_alt_names,
        "generated a self-signed TLS identity"
    );
    Ok(identity)
}

fn create_private_dir(dir: &Path) -> Result<(), TransportError> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(|source| TransportError::Write {
        path: dir.to_path_buf(),
        source,
    })
}

/// Writes `contents` to `path` through a temporary file in the same directory, with the given
/// Unix permission bits set before any content is written.
fn write_atomically(path: &Path, contents: &[u8], mode: u32) -> Result<(), TransportError> {
    let temporary = temporary_path(path);
    let write_error = |source| TransportError::Write {
        path: temporary.clone(),
        source,
    };

    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode);
    }
    let mut file = options.open(&temporary).map_err(write_error)?;

    // The mode given to `open` applies only to a new file, so a temporary file left by an
    // earlier attempt is narrowed explicitly.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(fs::Permissions::from_mode(mode))
            .map_err(write_error)?;
    }
    #[cfg(not(unix))]
    let _ = mode;

    file.write_all(contents).map_err(write_error)?;
    file.sync_all().map_err(write_error)?;
    fs::rename(&temporary, path).map_err(|source| TransportError::Write {
        path: path.to_path_buf(),
        source,
    })
}

fn temporary_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

fn sync_dir(dir: &Path) -> Result<(), TransportError> {
    #[cfg(unix)]
    {
        let handle = fs::File::open(dir).map_err(|source| TransportError::Write {
            path: dir.to_path_buf(),
            source,
        })?;
        handle.sync_all().map_err(|source| TransportError::Write {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    Ok(())
}

/// Rejects a generated key file that group or others can read. Keys supplied through
/// [`TlsIdentity::from_pem_files`] are not checked, because secret mounts often use 0644.
fn check_key_permissions(key_path: &Path) -> Result<(), TransportError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let metadata = fs::metadata(key_path).map_err(|source| TransportError::Read {
            path: key_path.to_path_buf(),
            source,
        })?;
        let mode = metadata.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(TransportError::KeyFilePermissions {
                path: key_path.to_path_buf(),
                mode,
            });
        }
    }
    Ok(())
}

