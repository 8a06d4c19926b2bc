//! Writes the report files of a run: text, JSON, hgrm and HTML.

use crate::error::LoadtestError;
use crate::generator::RunOutcome;
use crate::report::{hgrm, html, text};
use std::path::{Path, PathBuf};

/// Where each report goes; `None` skips that format.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReportPaths {
    /// Plain-text summary.
    pub text: Option<PathBuf>,
    /// Machine-readable JSON of every figure.
    pub json: Option<PathBuf>,
    /// HdrHistogram percentile distribution of all measured requests.
    pub hgrm: Option<PathBuf>,
    /// Self-contained HTML page with plots.
    pub html: Option<PathBuf>,
}

impl ReportPaths {
    /// Puts every format into one directory under fixed names.
    pub fn in_directory(directory: &Path) -> ReportPaths {
        ReportPaths {
            text: Some(directory.join("summary.txt")),
            json: Some(directory.join("report.json")),
            hgrm: Some(directory.join("latency.hgrm")),
            html: Some(directory.join("report.html")),
        }
    }

    /// Fills the formats not set here from `other`.
    pub fn or(self, other: ReportPaths) -> ReportPaths {
        ReportPaths {
            text: self.text.or(other.text),
            json: self.json.or(other.json),
            hgrm: self.hgrm.or(other.hgrm),
            html: self.html.or(other.html),
        }
    }
}

/// Writes every requested report, creating parent directories; returns the files written.
pub fn write_reports(outcome: &RunOutcome, paths: &ReportPaths) -> Result<Vec<PathBuf>, LoadtestError> {
    let mut written = Vec::new();
    if let Some(path) = &paths.text {
        write_file(path, text::render(&outcome.report).as_bytes())?;
        written.push(path.clone());
    }
    if let Some(path) = &paths.json {
        let json = serde_json::to_vec_pretty(&outcome.report)?;
        write_file(path, &json)?;
        written.push(path.clone());
    }
    if let Some(path) = &paths.hgrm {
        write_file(path, hgrm::render(&outcome.recorder.overall.latency_us).as_bytes())?;
        written.push(path.clone());
    }
    if let Some(path) = &paths.html {
        write_file(path, html::render(&outcome.report, &outcome.recorder).as_bytes())?;
        written.push(path.clone());
    }
    Ok(written)
}

/// Writes bytes to a file, creating its parent directory.
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<(), LoadtestError> {
    let write_error = |source| LoadtestError::WriteReport {
        path: path.to_owned(),
        source,
    };
    if let Some(parent) = path.parent().filter(|parent| !parent.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(write_error)?;
    }
    std::fs::write(path, bytes).map_err(write_error)
}
