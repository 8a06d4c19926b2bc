//! A small HTTP/1.1 client for the operator commands (`axiom keys`, `axiom incidents`, …).
//!
//! The control plane is plain HTTP on a trusted network or behind a TLS-terminating proxy, and
//! the commands send one request each, so this client sends one request per connection with
//! `Connection: close` and reads the whole response. It supports `Content-Length`, chunked and
//! close-delimited bodies.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// Largest response body read, in bytes (16 MiB); listings are far smaller.
pub const RESPONSE_BYTES_MAX: u64 = 16 * 1024 * 1024;
/// Time limit of connecting, and of each read or write, in milliseconds.
pub const IO_TIMEOUT_MS: u64 = 10_000;
/// Maximum size of the status line plus headers, in bytes.
const HEAD_BYTES_MAX: u64 = 64 * 1024;

/// Time and size limits of one request.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Time limit of connecting, and of each read or write, in milliseconds.
    pub io_timeout_ms: u64,
    /// Maximum response body size, in bytes. A larger body is an error, not truncated.
    pub response_bytes_max: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            io_timeout_ms: IO_TIMEOUT_MS,
            response_bytes_max: RESPONSE_BYTES_MAX,
        }
    }
}

/// Errors of one request.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The URL is not `http://host:port[/path]`.
    #[error("invalid server URL `{0}`: expected http://host:port")]
    InvalidUrl(String),
    /// Connecting, writing or reading failed.
    #[error("request to {address} failed: {source}")]
    Io {
        /// Server address.
        address: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The response is not HTTP/1.x.
    #[error("invalid response from server: {0}")]
    InvalidResponse(String),
}

/// A response: status and body.
#[derive(Debug, Clone)]
pub struct Response {
    /// HTTP status code.
    pub status: u16,
    /// The body, decoded as UTF-8 (lossy).
    pub body: String,
}

/// Splits `http://host:port/base` into the socket address text and the base path, without
/// its trailing slashes.
fn split_url(url: &str) -> Result<(String, String), ClientError> {
    let (address, path) = split_address(url)?;
    Ok((address, path.trim_end_matches('/').to_owned()))
}

/// Splits `http://host:port/path` into the socket address text and the path as written.
/// Credentials in the URL are rejected, so that no secret is sent in the clear or logged.
fn split_address(url: &str) -> Result<(String, &str), ClientError> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| ClientError::InvalidUrl(url.to_owned()))?;
    let (authority, path) = match rest.find('/') {
        Some(index) => (&rest[..index], &rest[index..]),
        None => (rest, ""),
    };
    if authority.is_empty() || authority.contains('@') {
        return Err(ClientError::InvalidUrl(url.to_owned()));
    }
    let address = if authority.contains(':') {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    };
    Ok((address, path))
}

/// Sends one request; `body` is sent as JSON when present.
pub fn send(
    server: &str,
    method: &str,
    path: &str,
    bearer: Option<&str>,
    body: Option<&str>,
) -> Result<Response, ClientError> {
    let (address, base) = split_url(server)?;
    exchange(&address, &format!("{base}{path}"), method, bearer, body, Limits::default())
}

/// Sends one `GET` to the full URL `http://host:port/path`, within `limits`.
pub fn get_url(url: &str, limits: Limits) -> Result<Response, ClientError> {
    let (address, path) = split_address(url)?;
    let target = if path.is_empty() { "/" } else { path };
    exchange(&address, target, "GET", None, None, limits)
}

/// Sends one request for `target` (the path and query) to `address` and reads the response.
fn exchange(
    address: &str,
    target: &str,
    method: &str,
    bearer: Option<&str>,
    body: Option<&str>,
    limits: Limits,
) -> Result<Response, ClientError> {
    let io_error = |source| ClientError::Io {
        address: address.to_owned(),
        source,
    };
    let timeout = Duration::from_millis(limits.io_timeout_ms);
    let socket = address
        .to_socket_addrs()
        .map_err(io_error)?
        .next()
        .ok_or_else(|| ClientError::InvalidUrl(address.to_owned()))?;
    let mut stream = TcpStream::connect_timeout(&socket, timeout).map_err(io_error)?;
    stream.set_read_timeout(Some(timeout)).map_err(io_error)?;
    stream.set_write_timeout(Some(timeout)).map_err(io_error)?;

    let mut request = format!(
        "{method} {target} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\nAccept: application/json\r\n"
    );
    if let Some(token) = bearer {
        request.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    let body = body.unwrap_or("");
    if !body.is_empty() || method != "GET" {
        request.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).map_err(io_error)?;

    let stream = stream.take(HEAD_BYTES_MAX.saturating_add(limits.response_bytes_max));
    read_response(BufReader::new(stream), limits.response_bytes_max).map_err(|error| match error {
        ReadError::Io(source) => io_error(source),
        ReadError::Invalid(text) => ClientError::InvalidResponse(text),
    })
}

enum ReadError {
    Io(std::io::Error),
    Invalid(String),
}

impl From<std::io::Error> for ReadError {
    fn from(error: std::io::Error) -> Self {
        ReadError::Io(error)
    }
}

fn read_response(mut reader: impl BufRead, body_bytes_max: u64) -> Result<Response, ReadError> {
    let too_large = |bytes: u64| {
        ReadError::Invalid(format!(
            "body of {bytes} bytes or more is above the limit of {body_bytes_max} bytes"
        ))
    };

    let mut status_line = String::new();
    reader.read_line(&mut status_line)?;
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse::<u16>().ok())
        .filter(|_| status_line.starts_with("HTTP/1."))
        .ok_or_else(|| ReadError::Invalid(format!("status line `{}`", status_line.trim())))?;

    let mut content_length = None;
    let mut chunked = false;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            break;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                content_length = value.parse::<u64>().ok();
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = value.eq_ignore_ascii_case("chunked");
            }
        }
    }

    let mut body = Vec::new();
    if chunked {
        loop {
            let mut size_line = String::new();
            reader.read_line(&mut size_line)?;
            let size_text = size_line.trim().split(';').next().unwrap_or("");
            let size = u64::from_str_radix(size_text, 16)
                .map_err(|_| ReadError::Invalid(format!("chunk size `{size_text}`")))?;
            if size == 0 {
                break;
            }
            let total = (body.len() as u64).saturating_add(size);
            if total > body_bytes_max {
                return Err(too_large(total));
            }
            (&mut reader).take(size).read_to_end(&mut body)?;
            let mut crlf = String::new();
            reader.read_line(&mut crlf)?;
        }
    } else if let Some(length) = content_length {
        if length > body_bytes_max {
            return Err(too_large(length));
        }
        (&mut reader).take(length).read_to_end(&mut body)?;
    } else {
        (&mut reader)
            .take(body_bytes_max.saturating_add(1))
            .read_to_end(&mut body)?;
        if body.len() as u64 > body_bytes_max {
            return Err(too_large(body.len() as u64));
        }
    }

    Ok(Response {
        status,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_parts() {
        assert_eq!(
            split_url("http://127.0.0.1:8080").ok(),
            Some(("127.0.0.1:8080".to_owned(), String::new()))
        );
        assert_eq!(
            split_url("http://axiom/api/").ok(),
            Some(("axiom:80".to_owned(), "/api".to_owned()))
        );
        assert!(split_url("https://axiom").is_err());
    }

    #[test]
    fn chunked_body_is_joined() {
        let raw = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
        let response = read_response(raw.as_bytes(), 64).ok();
        assert_eq!(response.map(|r| (r.status, r.body)), Some((200, "abcde".to_owned())));
    }

    #[test]
    fn body_above_limit_is_rejected() {
        let sized = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nabcde";
        assert!(read_response(sized.as_bytes(), 4).is_err());
        assert!(read_response(sized.as_bytes(), 5).is_ok());

        let chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
        assert!(read_response(chunked.as_bytes(), 4).is_err());

        let delimited = "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nabcde";
        assert!(read_response(delimited.as_bytes(), 4).is_err());
        assert!(read_response(delimited.as_bytes(), 5).is_ok());
    }

    #[test]
    fn credentials_in_url_are_rejected() {
        assert!(split_address("http://user:secret@idp:8080/jwks").is_err());
        assert_eq!(
            split_address("http://idp:8080/keys/").ok(),
            Some(("idp:8080".to_owned(), "/keys/"))
        );
    }
}
