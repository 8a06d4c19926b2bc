#!/usr/bin/env bash
# Advisory scan of Cargo.lock that needs no network.
#
# Uses cargo-audit (RustSec) against a local copy of the advisory database: the directory in
# AXIOM_ADVISORY_DB, else ~/.cargo/advisory-db (where `cargo audit` keeps its last fetch).
# Copy or mirror that git repository onto air-gapped machines. When cargo-audit or the
# database is missing, the scan is skipped with a message naming what to install, and the
# exit status is 0, so `make vuln` does not block a build machine that cannot scan. A scan
# that ran and found advisories exits 1.
set -euo pipefail
cd "$(dirname "$0")/../.."

db="${AXIOM_ADVISORY_DB:-$HOME/.cargo/advisory-db}"
crates=$(grep -c '^name = ' Cargo.lock || true)

if ! cargo audit --version >/dev/null 2>&1; then
  echo "vuln: SKIPPED: cargo-audit is not installed (cargo install cargo-audit --locked); $crates crates in Cargo.lock not scanned" >&2
  exit 0
fi
if [ ! -d "$db" ]; then
  echo "vuln: SKIPPED: no advisory database at $db; clone the RustSec advisory-db there or set AXIOM_ADVISORY_DB" >&2
  exit 0
fi

echo "vuln: scanning $crates crates against $db (offline)" >&2
exec cargo audit --no-fetch --stale --db "$db" --file Cargo.lock
