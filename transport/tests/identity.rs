//! TLS identity files: generation into the data directory, reuse, permissions, fingerprints.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use axiom_transport::identity::{CERT_FILE_NAME, KEY_FILE_NAME, TLS_DIR_NAME};
use axiom_transport::{fingerprint_of_pem, Fingerprint, TlsIdentity, TransportError};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

fn names() -> Vec<String> {
    vec!["localhost".to_owned()]
}

fn mode_of(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn generated_once_then_reused() {
    let data_dir = tempfile::tempdir().unwrap();
    let tls_dir = data_dir.path().join(TLS_DIR_NAME);

    let first = TlsIdentity::load_or_generate(data_dir.path(), &names()).unwrap();
    let second = TlsIdentity::load_or_generate(data_dir.path(), &names()).unwrap();

    assert_eq!(first.fingerprint(), second.fingerprint());
    assert_eq!(mode_of(&tls_dir.join(KEY_FILE_NAME)), 0o600);
    assert_eq!(mode_of(&tls_dir), 0o700);
    let from_file = fingerprint_of_pem(&tls_dir.join(CERT_FILE_NAME)).unwrap();
    assert_eq!(from_file, first.fingerprint());
    assert!(!tls_dir.join("key.pem.tmp").exists());
}

#[test]
fn fingerprint_matches_openssl() {
    let data_dir = tempfile::tempdir().unwrap();
    let identity = TlsIdentity::load_or_generate(data_dir.path(), &names()).unwrap();
    let cert_path = data_dir.path().join(TLS_DIR_NAME).join(CERT_FILE_NAME);

    let output = Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
        .arg(&cert_path)
        .output()
        .expect("openssl must be installed for this test");
    assert!(output.status.success());
    // openssl prints `sha256 Fingerprint=AB:CD:...`.
    let text = String::from_utf8(output.stdout).unwrap();
    let value = text.trim().rsplit('=').next().unwrap();
    let parsed: Fingerprint = value.parse().unwrap();

    assert_eq!(parsed, identity.fingerprint());
}

#[test]
fn certificate_without_key_rejected() {
    let data_dir = tempfile::tempdir().unwrap();
    TlsIdentity::load_or_generate(data_dir.path(), &names()).unwrap();
    std::fs::remove_file(data_dir.path().join(TLS_DIR_NAME).join(KEY_FILE_NAME)).unwrap();

    let error = TlsIdentity::load_or_generate(data_dir.path(), &names()).unwrap_err();

    assert!(matches!(error, TransportError::IncompleteIdentity { .. }), "got {error}");
}

#[test]
fn key_without_certificate_regenerated() {
    let data_dir = tempfile::tempdir().unwrap();
    let first = TlsIdentity::load_or_generate(data_dir.path(), &names()).unwrap();
    std::fs::remove_file(data_dir.path().join(TLS_DIR_NAME).join(CERT_FILE_NAME)).unwrap();

    let second = TlsIdentity::load_or_generate(data_dir.path(), &names()).unwrap();

    assert_ne!(first.fingerprint(), second.fingerprint());
    assert_eq!(mode_of(&data_dir.path().join(TLS_DIR_NAME).join(KEY_FILE_NAME)), 0o600);
}

#[test]
fn readable_key_rejected() {
    let data_dir = tempfile::tempdir().unwrap();
    TlsIdentity::load_or_generate(data_dir.path(), &names()).unwrap();
    let key_path = data_dir.path().join(TLS_DIR_NAME).join(KEY_FILE_NAME);
    std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o644)).unwrap();

    let error = TlsIdentity::load_or_generate(data_dir.path(), &names()).unwrap_err();

    assert!(
        matches!(error, TransportError::KeyFilePermissions { mode: 0o644, .. }),
        "got {error}"
    );
}

#[test]
fn mismatched_key_rejected() {
    let one = tempfile::tempdir().unwrap();
    let two = tempfile::tempdir().unwrap();
    TlsIdentity::load_or_generate(one.path(), &names()).unwrap();
    TlsIdentity::load_or_generate(two.path(), &names()).unwrap();

    let error = TlsIdentity::from_pem_files(
        &one.path().join(TLS_DIR_NAME).join(CERT_FILE_NAME),
        &two.path().join(TLS_DIR_NAME).join(KEY_FILE_NAME),
    )
    .unwrap_err();

    assert!(matches!(error, TransportError::KeyMismatch { .. }), "got {error}");
}

#[test]
fn missing_pem_blocks_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "no pem here\n").unwrap();

    let no_certificate = fingerprint_of_pem(&empty).unwrap_err();
    assert!(matches!(no_certificate, TransportError::NoCertificate { .. }), "got {no_certificate}");

    let error = TlsIdentity::from_pem_files(&empty, &empty).unwrap_err();
    assert!(matches!(error, TransportError::NoCertificate { .. }), "got {error}");

    let missing = fingerprint_of_pem(&dir.path().join("absent.pem")).unwrap_err();
    assert!(matches!(missing, TransportError::Read { .. }), "got {missing}");
}
