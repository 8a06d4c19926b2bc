//! Reads the server's own latency figures from its Prometheus `/metrics` endpoint.
//!
//! A plain HTTP/1.1 GET over a `TcpStream` is enough for a text exposition, so the harness
//! needs no HTTP client library. Only the few series it compares with its own numbers are read.

use serde::Serialize;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

/// Label value of the QUIC decision endpoint in the server's latency metrics.
pub const QUIC_ENDPOINT_LABEL: &str = "quic_decide";

/// Largest metrics response read, in bytes; a text exposition of a few hundred series is far
/// smaller, and the cap keeps a wrong URL from filling memory.
const METRICS_BYTES_MAX: u64 = 8 * 1024 * 1024;

/// Time limit of connecting, and of each read or write, in milliseconds.
const SCRAPE_TIMEOUT_MS: u64 = 2_000;

/// A failed scrape; the run goes on without server figures.
#[derive(Debug, thiserror::Error)]
pub enum ScrapeError {
    /// The URL is not `http://host:port/path`.
    #[error("invalid metrics URL `{0}`: expected http://HOST:PORT/PATH")]
    InvalidUrl(String),
    /// Connecting, sending or receiving failed.
    #[error("failed to read {url}: {source}")]
    Io {
        /// The URL.
        url: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The server answered with a status other than 200 or a broken response.
    #[error("unexpected response from {url}: {detail}")]
    BadResponse {
        /// The URL.
        url: String,
        /// What was wrong.
        detail: String,
    },
}

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

/// A parsed `http://host:port/path` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
struct HttpUrl {
    host: String,
    port: u16,
    path: String,
}

fn parse_url(url: &str) -> Result<HttpUrl, ScrapeError> {
    let invalid = || ScrapeError::InvalidUrl(url.to_owned());
    let rest = url.strip_prefix("http://").ok_or_else(invalid)?;
    let (authority, path) = match rest.find('/') {
        Some(slash) => (&rest[..slash], &rest[slash..]),
        None => (rest, "/metrics"),
    };
    let (host, port) = authority.rsplit_once(':').ok_or_else(invalid)?;
    let port: u16 = port.parse().map_err(|_| invalid())?;
    if host.is_empty() {
        return Err(invalid());
    }
    Ok(HttpUrl {
        host: host.to_owned(),
        port,
        path: path.to_owned(),
    })
}

/// Fetches the body of `url` with one HTTP/1.1 GET.
pub fn fetch(url: &str) -> Result<String, ScrapeError> {
    let parsed = parse_url(url)?;
    let io_error = |source| ScrapeError::Io {
        url: url.to_owned(),
        source,
    };
    let timeout = Duration::from_millis(SCRAPE_TIMEOUT_MS);

    let address: SocketAddr = (parsed.host.as_str(), parsed.port)
        .to_socket_addrs()
        .map_err(io_error)?
        .next()
        .ok_or_else(|| ScrapeError::InvalidUrl(url.to_owned()))?;
    let mut stream = TcpStream::connect_timeout(&address, timeout).map_err(io_error)?;
    stream.set_read_timeout(Some(timeout)).map_err(io_error)?;
    stream.set_write_timeout(Some(timeout)).map_err(io_error)?;

    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}:{}\r\nAccept: text/plain\r\nConnection: close\r\n\r\n",
        parsed.path, parsed.host, parsed.port
    );
    stream.write_all(request.as_bytes()).map_err(io_error)?;

    let mut raw = Vec::new();
    stream.take(METRICS_BYTES_MAX).read_to_end(&mut raw).map_err(io_error)?;
    let text = String::from_utf8_lossy(&raw);
    body_of(&text).map_err(|detail| ScrapeError::BadResponse {
        url: url.to_owned(),
        detail,
    })
}

/// Splits an HTTP/1.1 response into its body, checking the status and undoing chunked encoding.
fn body_of(response: &str) -> Result<String, String> {
    let Some((head, body)) = response.split_once("\r\n\r\n") else {
        return Err("no end of headers".to_owned());
    };
    let status_line = head.lines().next().unwrap_or_default();
    let status = status_line.split_whitespace().nth(1).unwrap_or_default();
    if status != "200" {
        return Err(format!("status line `{status_line}`"));
    }
    let chunked = head.lines().any(|line| {
        let lower = line.to_ascii_lowercase();
        lower.starts_with("transfer-encoding:") && lower.contains("chunked")
    });
    if chunked {
        return dechunk(body);
    }
    Ok(body.to_owned())
}

fn dechunk(mut body: &str) -> Result<String, String> {
    let mut out = String::new();
    // Each pass consumes one chunk, so the loop ends within `body.len()` passes.
    loop {
        let Some((size_line, rest)) = body.split_once("\r\n") else {
            return Err("chunk size line missing".to_owned());
        };
        let size_text = size_line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| format!("invalid chunk size `{size_text}`"))?;
        if size == 0 {
            return Ok(out);
        }
        let chunk = rest.get(..size).ok_or("chunk shorter than its size")?;
        out.push_str(chunk);
        body = rest.get(size..).unwrap_or_default().trim_start_matches("\r\n");
    }
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
pub fn scrape(url: &str) -> Result<ServerLatency, ScrapeError> {
    Ok(latency_of(&fetch(url)?, QUIC_ENDPOINT_LABEL))
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn url_parsing() {
        assert_eq!(
            parse_url("http://127.0.0.1:8080/metrics").unwrap(),
            HttpUrl { host: "127.0.0.1".into(), port: 8080, path: "/metrics".into() }
        );
        assert!(parse_url("https://127.0.0.1:8080/metrics").is_err());
        assert!(parse_url("http://127.0.0.1/metrics").is_err());
        assert!(parse_url("http://:80/").is_err());
    }

    #[test]
    fn body_handles_chunked_and_status() {
        let chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
        assert_eq!(body_of(chunked).unwrap(), "hello world");
        assert!(body_of("HTTP/1.1 404 Not Found\r\n\r\nnope").is_err());
        assert!(body_of("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n").is_err());
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
