//! Reads the server's own latency figures from its Prometheus `/metrics` endpoint.
//!
//! Only the few series the harness compares with its own numbers are read.

use crate::http::{self, HttpError};
use serde::Serialize;

/// Label value of the QUIC decision endpoint in the server's latency metrics.
pub const QUIC_ENDPOINT_LABEL: &str = "quic_decide";

/// The server's latency figures for one endpoint at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct ServerLatency {
    /// `axiom_latency_p95_seconds`, over the server's sliding window.
    pub p95_s: Option<f64>,
    /// `axiom_latency_p99_seconds`, over the server's sliding window.
    pub p99_s: Option<f64>,
    /// `axiom_endpoint_max_millis`.
    pub max_ms: Option<f64>,
}

/// The server's figures before and after a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServerFigures {
    /// Endpoint label read.
    pub endpoint: String,
    /// Figures just before the run, when they could be read.
    pub before: Option<ServerLatency>,
    /// Figures just after the run.
    pub after: ServerLatency,
}

/// Reads the value of `metric{endpoint="<endpoint>"}` from a Prometheus text exposition.
pub fn sample(exposition: &str, metric: &str, endpoint: &str) -> Option<f64> {
    let wanted_label = format!("endpoint=\"{endpoint}\"");
    exposition
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let rest = line.strip_prefix(metric)?;
            let (labels, value) = rest.strip_prefix('{')?.split_once('}')?;
            let has_label = labels.split(',').any(|label| label.trim() == wanted_label);
            has_label.then(|| value.split_whitespace().next()?.parse::<f64>().ok())?
        })
        .next()
}

/// Reads the latency figures of one endpoint from an exposition.
pub fn latency_of(exposition: &str, endpoint: &str) -> ServerLatency {
    ServerLatency {
        p95_s: sample(exposition, "axiom_latency_p95_seconds", endpoint),
        p99_s: sample(exposition, "axiom_latency_p99_seconds", endpoint),
        max_ms: sample(exposition, "axiom_endpoint_max_millis", endpoint),
    }
}

/// Scrapes `url` and returns the latency figures of the QUIC decision endpoint.
pub fn scrape(url: &str) -> Result<ServerLatency, HttpError> {
    Ok(latency_of(&http::get(url)?, QUIC_ENDPOINT_LABEL))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    const EXPOSITION: &str = "\
# HELP axiom_latency_p95_seconds P95 latency over the last window.
# TYPE axiom_latency_p95_seconds gauge
axiom_latency_p95_seconds{endpoint=\"/v1/decide\"} 0.5
axiom_latency_p95_seconds{endpoint=\"quic_decide\"} 0.00125
axiom_latency_p99_seconds{endpoint=\"quic_decide\"} 2.5e-3
axiom_endpoint_max_millis{endpoint=\"quic_decide\",extra=\"x\"} 7
axiom_latency_p95_seconds_count{endpoint=\"quic_decide\"} 99
";

    #[test]
    fn sample_picks_matching_endpoint() {
        let figures = latency_of(EXPOSITION, QUIC_ENDPOINT_LABEL);
        assert_eq!(figures.p95_s, Some(0.00125));
        assert_eq!(figures.p99_s, Some(0.0025));
        assert_eq!(figures.max_ms, Some(7.0));
        assert_eq!(sample(EXPOSITION, "axiom_latency_p95_seconds", "/v1/decide"), Some(0.5));
        assert_eq!(sample(EXPOSITION, "axiom_latency_p99_seconds", "/v1/decide"), None);
    }

    #[test]
    fn fetch_reads_real_socket() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut socket, _) = listener.accept().unwrap();
            let mut request = [0u8; 1024];
            let read = socket.read(&mut request).unwrap();
            let request = String::from_utf8_lossy(&request[..read]).to_string();
            let body = EXPOSITION;
            let response = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}", body.len());
            socket.write_all(response.as_bytes()).unwrap();
            request
        });
        let figures = scrape(&format!("http://127.0.0.1:{port}/metrics")).unwrap();
        let request = server.join().unwrap();
        assert!(request.starts_with("GET /metrics HTTP/1.1\r\n"), "{request}");
        assert_eq!(figures.p95_s, Some(0.00125));
    }
}
