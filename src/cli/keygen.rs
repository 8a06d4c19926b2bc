//! `axiom keygen`: creates an agent key pair and writes its key files.

use anyhow::{Context, Result};
use axiom_engine::crypto::KeyPair;
use clap::Args;
use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Options of `axiom keygen`.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Directory to write NAME.key (secret, mode 0600) and NAME.pub into.
    #[arg(long, default_value = ".")]
    pub out: PathBuf,
    /// File name stem of the key files.
    #[arg(long, default_value = "agent")]
    pub name: String,
}

/// Generates a key pair, writes the key files and prints the kid and public key.
pub fn run(args: KeygenArgs) -> Result<ExitCode> {
    let pair = KeyPair::generate();
    let (secret_path, public_path) = write_key_files(&pair, &args.out, &args.name)?;

    println!("kid: {}", pair.kid());
    println!("public_key: {}", pair.public_key().to_base64url());
    println!("secret key file: {}", secret_path.display());
    println!("public key file: {}", public_path.display());
    Ok(ExitCode::SUCCESS)
}

/// Writes `NAME.key` (mode 0600) and `NAME.pub` into `dir`. Existing files are never
/// overwritten, so a key in use cannot be lost by accident.
pub fn write_key_files(pair: &KeyPair, dir: &Path, name: &str) -> Result<(PathBuf, PathBuf)> {
    let secret_path = dir.join(format!("{name}.key"));
    let public_path = dir.join(format!("{name}.pub"));

    let secret_json = serde_json::to_vec_pretty(&pair.to_key_file())?;
    write_new_file(&secret_path, &secret_json, 0o600)?;
    let public_json = serde_json::to_vec_pretty(&pair.to_public_key_file())?;
    write_new_file(&public_path, &public_json, 0o644)?;
    Ok((secret_path, public_path))
}

fn write_new_file(path: &Path, contents: &[u8], mode: u32) -> Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .with_context(|| {
            format!(
                "failed to create {}; if it exists, choose another --name or --out",
                path.display()
            )
        })?;
    file.write_all(contents)
        .and_then(|()| file.write_all(b"\n"))
        .and_then(|()| file.sync_all())
        .with_context(|| format!("failed to write {}", path.display()))
}
