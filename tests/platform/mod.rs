//! Test support for the platform: real `vexil serve` / `vexil relay`
//! processes on 127.0.0.1 port 0, and a small HTTP/1.1 + SSE client over
//! plain sockets, so tests can also misbehave as hostile clients do (never
//! read, cut a request short). Every wait is bounded; every process is
//! killed when its handle drops.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use vexil::protocol::{SseEvent, SseParser, Update};

/// How long any single wait may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(20);

/// A running server process.
pub struct Server {
    child: Child,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    /// The arguments it was started with (for restarts).
    pub args: Vec<String>,
    stderr: mpsc::Receiver<String>,
}

impl Server {
    /// Starts `vexil ARGS...` (which must include `--listen 127.0.0.1:0`)
    /// and waits for its "listening on" line.
    pub fn start(args: &[&str]) -> Server {
        Server::start_with_env(args, &[])
    }

    /// [`Server::start`] with extra environment variables.
    pub fn start_with_env(args: &[&str], vars: &[(&str, &str)]) -> Server {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let mut child = Command::new(env!("CARGO_BIN_EXE_vexil"))
            .args(&args)
            .envs(vars.iter().copied())
            .env("VEXIL_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("vexil starts");
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + WAIT;
        let addr = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(at) = line.find("listening on http://") {
                        let rest = &line[at + "listening on http://".len()..];
                        let end = rest
                            .find(|c: char| c == ',' || c.is_whitespace())
                            .unwrap_or(rest.len());
                        break rest[..end].to_string();
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    panic!("vexil {args:?} did not report its address in time");
                }
            }
        };
        Server {
            child,
            addr,
            args,
            stderr: rx,
        }
    }

    /// Kills the process with SIGKILL and waits for it.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM and waits (bounded) for the exit status.
    pub fn terminate(&mut self) -> ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + WAIT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("vexil did not exit on SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The process's stderr lines so far.
    pub fn stderr_lines(&self) -> Vec<String> {
        self.stderr.try_iter().collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts an origin on port 0 with one admin token `adm`, a named token
/// `alice:tok-alice`, and environment `prod` with SDK key `sdk-prod`.
pub fn origin(data: &Path) -> Server {
    origin_with(data, &[])
}

/// [`origin`] with extra arguments.
pub fn origin_with(data: &Path, extra: &[&str]) -> Server {
    let data = data.to_str().expect("utf-8 path");
    let mut args = vec![
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--data",
        data,
        "--admin-token",
        "adm",
        "--admin-token",
        "alice:tok-alice",
        "--env",
        "prod=sdk-prod",
        "--env",
        "staging=sdk-staging",
        "--keepalive-secs",
        "1",
    ];
    args.extend_from_slice(extra);
    Server::start(&args)
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Headers, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked.
    pub body: Vec<u8>,
}

impl Response {
    /// The first header called `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

fn connect(addr: &str) -> TcpStream {
    try_connect(addr).expect("connects")
}

fn try_connect(addr: &str) -> Option<TcpStream> {
    let stream = TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(WAIT)).ok()?;
    stream.set_write_timeout(Some(WAIT)).ok()?;
    Some(stream)
}

fn write_request(
    stream: &mut TcpStream,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<()> {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n");
    for (n, v) in headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    if !body.is_empty() || matches!(method, "PUT" | "POST") {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)
}

/// A status, the headers, and the body bytes read with them.
type Head = (u16, Vec<(String, String)>, Vec<u8>);

/// Reads the status line and headers; returns them and any body bytes
/// already read. `None` if the connection fails first.
fn read_head(stream: &mut TcpStream) -> Option<Head> {
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    let end = loop {
        if let Some(at) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        let n = stream.read(&mut buf).ok()?;
        if n == 0 {
            return None;
        }
        raw.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let rest = raw[end + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Some((status, headers, rest))
}

/// An incremental decoder of `Transfer-Encoding: chunked`.
#[derive(Default)]
struct Dechunk {
    raw: Vec<u8>,
    left: Option<usize>,
    done: bool,
}

impl Dechunk {
    fn feed(&mut self, bytes: &[u8], out: &mut Vec<u8>) {
        self.raw.extend_from_slice(bytes);
        loop {
            match self.left {
                None => {
                    let Some(at) = self.raw.windows(2).position(|w| w == b"\r\n") else {
                        return;
                    };
                    let line = String::from_utf8_lossy(&self.raw[..at]).into_owned();
                    let size =
                        usize::from_str_radix(line.split(';').next().unwrap_or("").trim(), 16)
                            .expect("a chunk size");
                    self.raw.drain(..at + 2);
                    if size == 0 {
                        self.done = true;
                        return;
                    }
                    self.left = Some(size);
                }
                Some(size) => {
                    if self.raw.len() < size + 2 {
                        return;
                    }
                    out.extend_from_slice(&self.raw[..size]);
                    self.raw.drain(..size + 2);
                    self.left = None;
                }
            }
        }
    }
}

/// One request, read to the end (`Connection: close`).
pub fn request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    try_request(addr, method, path, headers, body)
        .unwrap_or_else(|| panic!("{method} {path}: no answer from {addr}"))
}

/// [`request`], `None` when the server is not there or hangs up early.
pub fn try_request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Option<Response> {
    let mut stream = try_connect(addr)?;
    write_request(&mut stream, method, path, headers, body).ok()?;
    let (status, headers, rest) = read_head(&mut stream)?;
    let mut raw = rest;
    let _ = stream.read_to_end(&mut raw);
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"));
    let body = if chunked {
        let mut d = Dechunk::default();
        let mut out = Vec::new();
        d.feed(&raw, &mut out);
        out
    } else {
        raw
    };
    Some(Response {
        status,
        headers,
        body,
    })
}

/// `GET path` with an SDK key.
pub fn get(addr: &str, path: &str, key: &str) -> Response {
    request(addr, "GET", path, &[("Authorization", key)], b"")
}

/// An admin call with a bearer token.
pub fn admin(addr: &str, method: &str, path: &str, token: &str, body: &str) -> Response {
    let auth = format!("Bearer {token}");
    request(
        addr,
        method,
        path,
        &[("Authorization", &auth), ("Content-Type", "text/plain")],
        body.as_bytes(),
    )
}

/// Publishes `source` to `env` as `adm`; returns the new version.
pub fn publish(addr: &str, env: &str, source: &str) -> u64 {
    let r = admin(
        addr,
        "PUT",
        &format!("/admin/v1/envs/{env}/rules"),
        "adm",
        source,
    );
    assert_eq!(r.status, 200, "publish failed: {}", r.text());
    r.json()["version"].as_u64().expect("a version")
}

/// An open SSE stream.
pub struct Stream {
    stream: TcpStream,
    /// The response status.
    pub status: u16,
    dechunk: Dechunk,
    chunked: bool,
    parser: SseParser,
    pending: VecDeque<SseEvent>,
    /// Keep-alive comments and other bytes seen, for liveness checks.
    pub bytes_seen: usize,
}

impl Stream {
    /// Opens `GET /v1/stream` with `key` and an optional `Last-Event-ID`.
    pub fn open(addr: &str, key: &str, last_event_id: Option<u64>) -> Stream {
        Stream::open_on(connect(addr), key, last_event_id)
    }

    /// [`Stream::open`] on a socket whose receive buffer is `rcvbuf` bytes
    /// (fixed, so the kernel cannot absorb what a client never reads).
    pub fn open_small(addr: &str, key: &str, last_event_id: Option<u64>, rcvbuf: usize) -> Stream {
        let target: std::net::SocketAddr = addr.parse().expect("an address");
        let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
            .expect("a socket");
        socket.set_recv_buffer_size(rcvbuf).expect("SO_RCVBUF");
        socket.connect(&target.into()).expect("connects");
        let stream: TcpStream = socket.into();
        stream.set_read_timeout(Some(WAIT)).expect("timeout");
        Stream::open_on(stream, key, last_event_id)
    }

    fn open_on(mut stream: TcpStream, key: &str, last_event_id: Option<u64>) -> Stream {
        let id = last_event_id.map(|v| v.to_string());
        let mut headers = vec![("Authorization", key), ("Accept", "text/event-stream")];
        if let Some(id) = &id {
            headers.push(("Last-Event-ID", id));
        }
        write_request(&mut stream, "GET", "/v1/stream", &headers, b"").expect("writes");
        let (status, headers, rest) = read_head(&mut stream).expect("a response head");
        let chunked = headers
            .iter()
            .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"));
        let mut s = Stream {
            stream,
            status,
            dechunk: Dechunk::default(),
            chunked,
            parser: SseParser::default(),
            pending: VecDeque::new(),
            bytes_seen: 0,
        };
        s.absorb(&rest);
        s
    }

    fn absorb(&mut self, bytes: &[u8]) {
        self.bytes_seen += bytes.len();
        let mut plain = Vec::new();
        if self.chunked {
            self.dechunk.feed(bytes, &mut plain);
        } else {
            plain.extend_from_slice(bytes);
        }
        let mut events = Vec::new();
        self.parser.feed(&plain, &mut events).expect("valid SSE");
        self.pending.extend(events);
    }

    /// The next event within `timeout`, or `None` (timeout or end of stream).
    pub fn next_event(&mut self, timeout: Duration) -> Option<SseEvent> {
        let deadline = Instant::now() + timeout;
        let mut buf = [0u8; 65536];
        loop {
            if let Some(e) = self.pending.pop_front() {
                return Some(e);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            self.stream
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .ok()?;
            match self.stream.read(&mut buf) {
                Ok(0) => return None,
                Ok(n) => {
                    let chunk = buf[..n].to_vec();
                    self.absorb(&chunk);
                }
                Err(_) => return None,
            }
        }
    }

    /// The next state-changing event, decoded.
    pub fn next_update(&mut self, timeout: Duration) -> Option<Update> {
        let e = self.next_event(timeout)?;
        Some(Update::from_event(&e).expect("a put or patch event"))
    }

    /// True when the server closed the stream within `timeout`.
    pub fn closed_within(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut buf = [0u8; 65536];
        while Instant::now() < deadline {
            let left = deadline.saturating_duration_since(Instant::now());
            let _ = self
                .stream
                .set_read_timeout(Some(left.max(Duration::from_millis(1))));
            match self.stream.read(&mut buf) {
                Ok(0) => return true,
                Ok(n) => {
                    let chunk = buf[..n].to_vec();
                    self.absorb(&chunk);
                    if self.dechunk.done {
                        return true;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return false,
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => return false,
                Err(_) => return true,
            }
        }
        false
    }
}

/// Polls `f` every 20 ms until it is true or `WAIT` passes.
pub fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("timed out waiting for {what}");
}
