//! A minimal HTTP/1.1 client over `TcpStream` for the control plane: metrics scrapes and
//! source freshness events. The harness needs only a few plain requests, so it carries no
//! HTTP client library.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

/// Largest response read, in bytes; a text exposition of a few hundred series is far smaller,
/// and the cap keeps a wrong URL from filling memory.
const RESPONSE_BYTES_MAX: u64 = 8 * 1024 * 1024;

/// Time limit of connecting, and of each read or write, in milliseconds.
const HTTP_TIMEOUT_MS: u64 = 2_000;

/// A failed HTTP exchange with the control plane.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
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
    /// The server returned a status outside 2xx or a broken response.
    #[error("unexpected response from {url}: {detail}")]
    BadResponse {
        /// The URL.
        url: String,
        /// Description of the fault.
        detail: String,
    },
}

/// A parsed `http://host:port/path` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
struct HttpUrl {
    host: String,
    port: u16,
    path: String,
}

fn parse_url(url: &str) -> Result<HttpUrl, HttpError> {
    let invalid = || HttpError::InvalidUrl(url.to_owned());
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
pub fn get(url: &str) -> Result<String, HttpError> {
    exchange("GET", url, None, None)
}

/// Sends a JSON body with one HTTP/1.1 POST and returns the response body; any 2xx status
/// counts as success.
pub fn post_json(url: &str, bearer_token: Option<&str>, body: &str) -> Result<String, HttpError> {
    exchange("POST", url, bearer_token, Some(body))
}

fn exchange(method: &str, url: &str, bearer_token: Option<&str>, body: Option<&str>) -> Result<String, HttpError> {
    let parsed = parse_url(url)?;
    let io_error = |source| HttpError::Io {
        url: url.to_owned(),
        source,
    };
    let timeout = Duration::from_millis(HTTP_TIMEOUT_MS);

    let address: SocketAddr = (parsed.host.as_str(), parsed.port)
        .to_socket_addrs()
        .map_err(io_error)?
        .next()
        .ok_or_else(|| HttpError::InvalidUrl(url.to_owned()))?;
    let mut stream = TcpStream::connect_timeout(&address, timeout).map_err(io_error)?;
    stream.set_read_timeout(Some(timeout)).map_err(io_error)?;
    stream.set_write_timeout(Some(timeout)).map_err(io_error)?;

    let mut request = format!(
        "{method} {} HTTP/1.1\r\nHost: {}:{}\r\nConnection: close\r\n",
        parsed.path, parsed.host, parsed.port
    );
    if let Some(token) = bearer_token {
        request.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    match body {
        Some(body) => request.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )),
        None => request.push_str("\r\n"),
    }
    stream.write_all(request.as_bytes()).map_err(io_error)?;

    let mut raw = Vec::new();
    stream.take(RESPONSE_BYTES_MAX).read_to_end(&mut raw).map_err(io_error)?;
    let text = String::from_utf8_lossy(&raw);
    body_of(&text).map_err(|detail| HttpError::BadResponse {
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
    if !status.starts_with('2') || status.len() != 3 {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
