//! A minimal HTTP/1.1 keep-alive client for the benchmarks: one
//! connection, requests in turn, no allocation beyond the body. Both
//! benchmarks drive lookout with it (it outpaces reqwest's blocking client
//! on this machine, so the client is not what is measured).

use std::fmt::Write as _;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// Read and write timeout of a connection: generous, since a request can
/// wait behind a full write queue.
const HTTP_TIMEOUT: Duration = Duration::from_secs(120);

pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

/// A minimal HTTP/1.1 keep-alive client: one connection, requests in turn.
pub struct RawHttp {
    addr: SocketAddr,
    conn: Option<BufReader<TcpStream>>,
}

impl RawHttp {
    pub fn new(addr: SocketAddr) -> RawHttp {
        RawHttp { addr, conn: None }
    }

    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        body: Option<(&str, &[u8])>,
    ) -> io::Result<Response> {
        let reused = self.conn.is_some();
        match self.try_request(method, path, body) {
            Ok(response) => Ok(response),
            // A kept-alive connection the server closed meanwhile: retry
            // once on a new one (ingest is idempotent).
            Err(_) if reused => {
                self.conn = None;
                self.try_request(method, path, body)
            }
            Err(error) => Err(error),
        }
    }

    pub fn try_request(
        &mut self,
        method: &str,
        path: &str,
        body: Option<(&str, &[u8])>,
    ) -> io::Result<Response> {
        if self.conn.is_none() {
            let stream = TcpStream::connect_timeout(&self.addr, Duration::from_secs(10))?;
            stream.set_nodelay(true)?;
            stream.set_read_timeout(Some(HTTP_TIMEOUT))?;
            stream.set_write_timeout(Some(HTTP_TIMEOUT))?;
            self.conn = Some(BufReader::with_capacity(64 * 1024, stream));
        }
        let result = self.exchange(method, path, body);
        if result.is_err() {
            self.conn = None;
        }
        result
    }

    pub fn exchange(
        &mut self,
        method: &str,
        path: &str,
        body: Option<(&str, &[u8])>,
    ) -> io::Result<Response> {
        let addr = self.addr;
        let reader = self.conn.as_mut().expect("connected above");
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\n");
        match body {
            Some((content_type, bytes)) => {
                let _ = write!(
                    head,
                    "Content-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
                    bytes.len()
                );
                let stream = reader.get_mut();
                stream.write_all(head.as_bytes())?;
                stream.write_all(bytes)?;
            }
            None => {
                head.push_str("\r\n");
                reader.get_mut().write_all(head.as_bytes())?;
            }
        }
        let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_string());
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed",
            ));
        }
        let status: u16 = line
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .ok_or_else(|| bad("bad status line"))?;
        let mut content_length = None;
        let mut chunked = false;
        let mut close = false;
        loop {
            line.clear();
            if reader.read_line(&mut line)? == 0 {
                return Err(bad("eof in headers"));
            }
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            let Some((name, value)) = header.split_once(':') else {
                continue;
            };
            let value = value.trim();
            match name.to_ascii_lowercase().as_str() {
                "content-length" => content_length = value.parse::<usize>().ok(),
                "transfer-encoding" => chunked = value.eq_ignore_ascii_case("chunked"),
                "connection" => close = value.eq_ignore_ascii_case("close"),
                _ => {}
            }
        }
        let mut body = Vec::new();
        if chunked {
            loop {
                line.clear();
                reader.read_line(&mut line)?;
                let size_text = line.trim().split(';').next().unwrap_or("");
                let size =
                    usize::from_str_radix(size_text, 16).map_err(|_| bad("bad chunk size"))?;
                if size == 0 {
                    loop {
                        line.clear();
                        if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
                            break;
                        }
                    }
                    break;
                }
                let start = body.len();
                body.resize(start + size, 0);
                reader.read_exact(&mut body[start..])?;
                line.clear();
                reader.read_line(&mut line)?;
            }
        } else if let Some(length) = content_length {
            body.resize(length, 0);
            reader.read_exact(&mut body)?;
        } else if method != "HEAD" && status >= 200 && status != 204 && status != 304 {
            reader.read_to_end(&mut body)?;
            close = true;
        }
        if close {
            self.conn = None;
        }
        Ok(Response { status, body })
    }
}

/// Waits until the server has given back free database pages (its
/// `lookout_storage_reclaimed_bytes_total` has moved and stops moving), at
/// most `wait`; answers the bytes given back.
#[allow(dead_code)]
pub fn settle_free_pages(http: &mut RawHttp, wait: Duration) -> u64 {
    let reclaimed = |http: &mut RawHttp| {
        let response = http.request("GET", "/metrics", None).expect("metrics");
        String::from_utf8_lossy(&response.body)
            .lines()
            .find_map(|line| line.strip_prefix("lookout_storage_reclaimed_bytes_total "))
            .and_then(|value| value.trim().parse::<u64>().ok())
            .unwrap_or(0)
    };
    let deadline = Instant::now() + wait;
    let mut last = reclaimed(http);
    loop {
        std::thread::sleep(Duration::from_millis(500));
        let now = reclaimed(http);
        if (now == last && now > 0) || Instant::now() > deadline {
            return now;
        }
        last = now;
    }
}
