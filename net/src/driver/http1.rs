//! The HTTP/1.1 heads of the WebSocket upgrade, read and written by hand so that refusals are
//! plain HTTP answers with a reason and nothing after the head is consumed.

use std::io;

use futures_util::io::{AsyncReadExt, AsyncWriteExt};
use http::{HeaderName, HeaderValue, Request, Response, StatusCode, Version};

use super::BoxStream;

/// The error [`read_head`] gives (inside an `io::Error`) for a head over its limit.
#[derive(Debug, thiserror::Error)]
#[error("HTTP head larger than {0} bytes")]
pub(crate) struct HeadTooLarge(pub(crate) usize);

impl HeadTooLarge {
    /// Whether `error` is this one.
    pub(crate) fn is(error: &io::Error) -> bool {
        error.get_ref().is_some_and(|e| e.is::<HeadTooLarge>())
    }
}

/// Reads up to the blank line ending an HTTP head (byte by byte, so nothing of the WebSocket
/// stream that follows is consumed), at most `limit` bytes.
pub(crate) async fn read_head(stream: &mut BoxStream, limit: usize) -> io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(512);
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() >= limit {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                HeadTooLarge(limit),
            ));
        }
        if stream.read(&mut byte).await? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        head.push(byte[0]);
    }
    Ok(head)
}

fn bad(reason: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, reason.to_owned())
}

fn version(text: &str) -> io::Result<Version> {
    match text {
        "HTTP/1.1" => Ok(Version::HTTP_11),
        "HTTP/1.0" => Ok(Version::HTTP_10),
        _ => Err(bad("not an HTTP/1.x message")),
    }
}

fn headers<'a>(lines: impl Iterator<Item = &'a str>) -> io::Result<Vec<(HeaderName, HeaderValue)>> {
    let mut out = Vec::new();
    for line in lines {
        if line.is_empty() {
            break;
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| bad("malformed header"))?;
        let name = HeaderName::try_from(name.trim()).map_err(|_| bad("bad header name"))?;
        let value = HeaderValue::try_from(value.trim()).map_err(|_| bad("bad header value"))?;
        out.push((name, value));
    }
    Ok(out)
}

/// Parses a request head.
pub(crate) fn parse_request(head: &[u8]) -> io::Result<Request<()>> {
    let text = std::str::from_utf8(head).map_err(|_| bad("request head is not UTF-8"))?;
    let mut lines = text.split("\r\n");
    let first = lines.next().unwrap_or_default();
    let mut parts = first.split(' ');
    let (Some(method), Some(target), Some(v), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad("malformed request line"));
    };
    let mut builder = Request::builder()
        .method(method)
        .uri(target)
        .version(version(v)?);
    for (name, value) in headers(lines)? {
        builder = builder.header(name, value);
    }
    builder.body(()).map_err(|_| bad("malformed request"))
}

/// Parses a response head.
pub(crate) fn parse_response(head: &[u8]) -> io::Result<Response<()>> {
    let text = std::str::from_utf8(head).map_err(|_| bad("response head is not UTF-8"))?;
    let mut lines = text.split("\r\n");
    let first = lines.next().unwrap_or_default();
    let mut parts = first.splitn(3, ' ');
    let (Some(v), Some(status)) = (parts.next(), parts.next()) else {
        return Err(bad("malformed status line"));
    };
    let status = status
        .parse::<u16>()
        .ok()
        .and_then(|s| StatusCode::from_u16(s).ok())
        .ok_or_else(|| bad("malformed status code"))?;
    let mut builder = Response::builder().status(status).version(version(v)?);
    for (name, value) in headers(lines)? {
        builder = builder.header(name, value);
    }
    builder.body(()).map_err(|_| bad("malformed response"))
}

/// Writes a request head.
pub(crate) async fn write_request(stream: &mut BoxStream, request: &Request<()>) -> io::Result<()> {
    let mut out = format!("{} {} HTTP/1.1\r\n", request.method(), request.uri());
    for (name, value) in request.headers() {
        out.push_str(name.as_str());
        out.push_str(": ");
        out.push_str(value.to_str().map_err(|_| bad("unprintable header"))?);
        out.push_str("\r\n");
    }
    out.push_str("\r\n");
    stream.write_all(out.as_bytes()).await?;
    stream.flush().await
}

/// Writes a response head and body.
pub(crate) async fn write_response(
    stream: &mut BoxStream,
    response: &Response<()>,
    body: &[u8],
) -> io::Result<()> {
    let status = response.status();
    let mut out = format!(
        "HTTP/1.1 {} {}\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    );
    for (name, value) in response.headers() {
        out.push_str(name.as_str());
        out.push_str(": ");
        out.push_str(value.to_str().map_err(|_| bad("unprintable header"))?);
        out.push_str("\r\n");
    }
    if status != StatusCode::SWITCHING_PROTOCOLS {
        out.push_str(&format!(
            "Content-Length: {}\r\nConnection: close\r\n",
            body.len()
        ));
    }
    out.push_str("\r\n");
    stream.write_all(out.as_bytes()).await?;
    stream.write_all(body).await?;
    stream.flush().await
}

/// Reads a response body of `Content-Length` bytes (at most `limit`; without the header, what
/// arrives before the peer closes, up to `limit`).
pub(crate) async fn read_body(
    stream: &mut BoxStream,
    response: &Response<()>,
    limit: usize,
) -> Vec<u8> {
    let length = response
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(limit)
        .min(limit);
    let mut body = vec![0u8; length];
    let mut filled = 0;
    while filled < length {
        match stream.read(&mut body[filled..]).await {
            Ok(0) | Err(_) => break,
            Ok(n) => filled += n,
        }
    }
    body.truncate(filled);
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_request_and_response_heads() {
        let request =
            parse_request(b"GET /db/_blipsync HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n")
                .unwrap();
        assert_eq!(request.method(), http::Method::GET);
        assert_eq!(request.uri().path(), "/db/_blipsync");
        assert_eq!(request.version(), Version::HTTP_11);
        assert_eq!(request.headers()["upgrade"], "websocket");

        let response =
            parse_response(b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic\r\n\r\n")
                .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(response.headers()["www-authenticate"], "Basic");

        for bad in [
            &b"hello\r\n\r\n"[..],
            b"GET / SPDY/3\r\n\r\n",
            b"GET /\r\n\r\n",
            b"GET / HTTP/1.1\r\nno colon\r\n\r\n",
        ] {
            assert!(
                parse_request(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        assert!(parse_response(b"HTTP/1.1 abc\r\n\r\n").is_err());
    }
}
