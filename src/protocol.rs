//! The propagation protocol: what origin, relays and SDKs say to each other
//! over HTTP, with no I/O of its own (SPEC §4).
//!
//! Two endpoints carry state. `GET /v1/snapshot` answers the snapshot file's
//! bytes with `ETag: "VERSION"`. `GET /v1/stream` is Server-Sent Events; each
//! event that changes state is an [`Update`]:
//!
//! ```text
//! event: put
//! id: 7
//! data: {"version":7,"snapshot":"<base64 of the snapshot bytes>"}
//!
//! event: patch
//! id: 8
//! data: {"version":8,"base":7,"patch":"<base64 of a snapshot patch>"}
//! ```
//!
//! A `put` replaces the whole state; a `patch` is the delta
//! (`crate::snapshot::make_patch_from`) from version `base` to `version`. The
//! `id:` is always the version, so a client reconnects with
//! `Last-Event-ID: VERSION` and gets only what it missed. Comment lines
//! (`: keep-alive`) keep idle connections open.
//!
//! This module encodes updates once (a server shares the encoded bytes with
//! every subscriber), parses an SSE byte stream incrementally with a bound on
//! event size ([`SseParser`]), and reads the `Authorization` header
//! ([`sdk_key`]) and `ETag`s. The snapshot and patch bytes themselves are the
//! `snapshot` module's one wire format; here they only travel.

use std::fmt;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;

/// Path of the snapshot endpoint.
pub const SNAPSHOT_PATH: &str = "/v1/snapshot";
/// Path of the stream endpoint.
pub const STREAM_PATH: &str = "/v1/stream";
/// The SSE event name of a full state.
pub const PUT: &str = "put";
/// The SSE event name of a delta.
pub const PATCH: &str = "patch";
/// A keep-alive comment, as framed on the wire.
pub const KEEPALIVE: &[u8] = b": keep-alive\n\n";
/// Default cap on one SSE event's size as received (256 MiB): a snapshot
/// with millions of segment keys fits, a hostile endless line does not.
pub const MAX_EVENT_BYTES: usize = 256 << 20;

/// One change of state, as streamed.
#[derive(Clone, PartialEq, Eq)]
pub enum Update {
    /// The full state: a snapshot file's bytes.
    Full {
        /// The snapshot's version.
        version: u64,
        /// The snapshot bytes.
        snapshot: Vec<u8>,
    },
    /// A delta from version `base` to `version`: a snapshot patch's bytes.
    Delta {
        /// The version it produces.
        version: u64,
        /// The version it applies to.
        base: u64,
        /// The patch bytes.
        patch: Vec<u8>,
    },
}

impl fmt::Debug for Update {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Update::Full { version, snapshot } => {
                write!(f, "Full {{ version: {version}, {} bytes }}", snapshot.len())
            }
            Update::Delta {
                version,
                base,
                patch,
            } => write!(
                f,
                "Delta {{ version: {version}, base: {base}, {} bytes }}",
                patch.len()
            ),
        }
    }
}

/// What is wrong with an event received from a stream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// An event name this build does not know.
    #[error("unknown event `{0}` (expected `put` or `patch`)")]
    UnknownEvent(String),
    /// The data line is not the JSON object the event needs.
    #[error("malformed `{event}` data: {detail}")]
    MalformedData {
        /// The event name.
        event: &'static str,
        /// What exactly is wrong.
        detail: String,
    },
    /// The `id:` disagrees with the version in the data.
    #[error("event id {id:?} does not match its version {version}")]
    IdMismatch {
        /// The `id:` field as received.
        id: String,
        /// The version the data names.
        version: u64,
    },
    /// One event grew past the size cap.
    #[error("an event exceeds {limit} bytes; the stream is refused")]
    EventTooLarge {
        /// The cap.
        limit: usize,
    },
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PutData {
    version: u64,
    snapshot: String,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PatchData {
    version: u64,
    base: u64,
    patch: String,
}

impl Update {
    /// The version this update produces.
    pub fn version(&self) -> u64 {
        match self {
            Update::Full { version, .. } | Update::Delta { version, .. } => *version,
        }
    }

    /// The SSE event name.
    pub fn event_name(&self) -> &'static str {
        match self {
            Update::Full { .. } => PUT,
            Update::Delta { .. } => PATCH,
        }
    }

    /// The `data:` JSON of this update.
    pub fn data(&self) -> String {
        match self {
            Update::Full { version, snapshot } => format!(
                "{{\"version\":{version},\"snapshot\":\"{}\"}}",
                BASE64.encode(snapshot)
            ),
            Update::Delta {
                version,
                base,
                patch,
            } => format!(
                "{{\"version\":{version},\"base\":{base},\"patch\":\"{}\"}}",
                BASE64.encode(patch)
            ),
        }
    }

    /// The update framed as one SSE event (`event:`, `id:`, `data:`, blank
    /// line), ready to be written to any number of connections.
    pub fn to_sse(&self) -> Vec<u8> {
        let data = self.data();
        let mut out = Vec::with_capacity(data.len() + 48);
        out.extend_from_slice(b"event: ");
        out.extend_from_slice(self.event_name().as_bytes());
        out.extend_from_slice(b"\nid: ");
        out.extend_from_slice(self.version().to_string().as_bytes());
        out.extend_from_slice(b"\ndata: ");
        out.extend_from_slice(data.as_bytes());
        out.extend_from_slice(b"\n\n");
        out
    }

    /// Decodes a received event. Events other than `put` and `patch` are
    /// [`ProtocolError::UnknownEvent`]; callers may ignore them.
    pub fn from_event(event: &SseEvent) -> Result<Update, ProtocolError> {
        let update = match event.event.as_str() {
            PUT => {
                let d: PutData = serde_json::from_str(&event.data).map_err(|e| {
                    ProtocolError::MalformedData {
                        event: PUT,
                        detail: e.to_string(),
                    }
                })?;
                Update::Full {
                    version: d.version,
                    snapshot: decode_b64(PUT, &d.snapshot)?,
                }
            }
            PATCH => {
                let d: PatchData = serde_json::from_str(&event.data).map_err(|e| {
                    ProtocolError::MalformedData {
                        event: PATCH,
                        detail: e.to_string(),
                    }
                })?;
                Update::Delta {
                    version: d.version,
                    base: d.base,
                    patch: decode_b64(PATCH, &d.patch)?,
                }
            }
            other => return Err(ProtocolError::UnknownEvent(other.to_string())),
        };
        if let Some(id) = &event.id {
            if id.trim().parse::<u64>().ok() != Some(update.version()) {
                return Err(ProtocolError::IdMismatch {
                    id: id.clone(),
                    version: update.version(),
                });
            }
        }
        Ok(update)
    }
}

fn decode_b64(event: &'static str, text: &str) -> Result<Vec<u8>, ProtocolError> {
    BASE64
        .decode(text)
        .map_err(|e| ProtocolError::MalformedData {
            event,
            detail: format!("base64: {e}"),
        })
}

/// One Server-Sent Event as received (comments are dropped).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field (`message` when absent, per the SSE standard).
    pub event: String,
    /// The `data:` lines, joined by `\n`.
    pub data: String,
    /// The `id:` field, if the event had one.
    pub id: Option<String>,
}

/// An incremental SSE parser: feed it bytes as they arrive, take events as
/// they complete. Follows the WHATWG event-stream rules for `event`, `data`,
/// `id`, comments and `\n` / `\r\n` / `\r` line ends; one event larger than
/// the cap is an error (a hostile or broken upstream cannot exhaust memory).
#[derive(Debug)]
pub struct SseParser {
    line: Vec<u8>,
    event: String,
    data: String,
    id: Option<String>,
    has_data: bool,
    size: usize,
    limit: usize,
    after_cr: bool,
}

impl Default for SseParser {
    fn default() -> Self {
        SseParser::new(MAX_EVENT_BYTES)
    }
}

impl SseParser {
    /// A parser refusing events larger than `limit` bytes.
    pub fn new(limit: usize) -> SseParser {
        SseParser {
            line: Vec::new(),
            event: String::new(),
            data: String::new(),
            id: None,
            has_data: false,
            size: 0,
            limit,
            after_cr: false,
        }
    }

    /// Feeds bytes; appends every event they complete to `out`.
    pub fn feed(&mut self, bytes: &[u8], out: &mut Vec<SseEvent>) -> Result<(), ProtocolError> {
        for &b in bytes {
            if self.after_cr {
                self.after_cr = false;
                if b == b'\n' {
                    continue;
                }
            }
            match b {
                b'\n' | b'\r' => {
                    self.after_cr = b == b'\r';
                    self.end_line(out);
                }
                _ => {
                    self.size += 1;
                    if self.size > self.limit {
                        return Err(ProtocolError::EventTooLarge { limit: self.limit });
                    }
                    self.line.push(b);
                }
            }
        }
        Ok(())
    }

    fn end_line(&mut self, out: &mut Vec<SseEvent>) {
        let line = std::mem::take(&mut self.line);
        if line.is_empty() {
            self.dispatch(out);
            return;
        }
        if line[0] == b':' {
            return;
        }
        let text = String::from_utf8_lossy(&line);
        let (field, value) = match text.find(':') {
            Some(at) => {
                let value = &text[at + 1..];
                (&text[..at], value.strip_prefix(' ').unwrap_or(value))
            }
            None => (&text[..], ""),
        };
        match field {
            "event" => self.event = value.to_string(),
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            "id" if !value.contains('\0') => self.id = Some(value.to_string()),
            _ => {}
        }
    }

    fn dispatch(&mut self, out: &mut Vec<SseEvent>) {
        let event = std::mem::take(&mut self.event);
        let data = std::mem::take(&mut self.data);
        let had_data = std::mem::replace(&mut self.has_data, false);
        self.size = 0;
        if !had_data {
            return;
        }
        out.push(SseEvent {
            event: if event.is_empty() {
                "message".to_string()
            } else {
                event
            },
            data,
            // The id persists across events per the standard; we hand on
            // the one in force for this event.
            id: self.id.clone(),
        });
    }
}

/// The SDK key of an `Authorization` header value: the whole value
/// (`sdk-123`), or what follows `Bearer ` (case-insensitive).
pub fn sdk_key(authorization: &str) -> &str {
    let value = authorization.trim();
    match value.get(..7) {
        Some(prefix) if prefix.eq_ignore_ascii_case("bearer ") => value[7..].trim(),
        _ => value,
    }
}

/// The `ETag` of a version: the version number, quoted (`"42"`).
pub fn etag(version: u64) -> String {
    format!("\"{version}\"")
}

/// True when an `If-None-Match` header value names `version` (a list of
/// tags, weak tags and `*` included).
pub fn if_none_match(header: &str, version: u64) -> bool {
    let tag = etag(version);
    header.split(',').map(str::trim).any(|t| {
        let t = t.strip_prefix("W/").unwrap_or(t);
        t == "*" || t == tag
    })
}

/// The version an `ETag` value names, if it is one of ours.
pub fn parse_etag(value: &str) -> Option<u64> {
    let v = value.trim();
    let v = v.strip_prefix("W/").unwrap_or(v);
    v.strip_prefix('"')?.strip_suffix('"')?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(bytes: &[u8], chunk: usize) -> Vec<SseEvent> {
        let mut parser = SseParser::default();
        let mut out = Vec::new();
        for piece in bytes.chunks(chunk.max(1)) {
            parser.feed(piece, &mut out).unwrap();
        }
        out
    }

    #[test]
    fn updates_round_trip_through_sse_in_any_chunking() {
        let updates = [
            Update::Full {
                version: 7,
                snapshot: (0..=255u8).collect(),
            },
            Update::Delta {
                version: 8,
                base: 7,
                patch: b"VEXILPAT...".to_vec(),
            },
        ];
        let mut wire = Vec::new();
        for u in &updates {
            wire.extend_from_slice(&u.to_sse());
            wire.extend_from_slice(KEEPALIVE);
        }
        for chunk in [1, 2, 3, 7, 64, wire.len()] {
            let events = parse_all(&wire, chunk);
            let decoded: Vec<Update> = events
                .iter()
                .map(|e| Update::from_event(e).unwrap())
                .collect();
            assert_eq!(decoded, updates, "chunk {chunk}");
            assert_eq!(events[1].id.as_deref(), Some("8"));
        }
    }

    #[test]
    fn crlf_and_multiline_data_follow_the_standard() {
        let events = parse_all(
            b"event: x\r\ndata: a\r\ndata:b\r\n\r\n: c\n\ndata: z\r\r",
            1,
        );
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].event, "x");
        assert_eq!(events[0].data, "a\nb");
        assert_eq!(events[1].event, "message");
        assert_eq!(events[1].data, "z");
    }

    #[test]
    fn oversized_events_are_refused() {
        let mut parser = SseParser::new(16);
        let mut out = Vec::new();
        parser.feed(b"data: 0123456789\n\n", &mut out).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(
            parser.feed(b"data: 0123456789abcdef", &mut out),
            Err(ProtocolError::EventTooLarge { limit: 16 })
        );
    }

    #[test]
    fn bad_events_say_what_is_wrong() {
        let ev = |event: &str, data: &str, id: Option<&str>| SseEvent {
            event: event.into(),
            data: data.into(),
            id: id.map(str::to_string),
        };
        assert!(matches!(
            Update::from_event(&ev("message", "{}", None)),
            Err(ProtocolError::UnknownEvent(_))
        ));
        assert!(matches!(
            Update::from_event(&ev("put", "{\"version\":1}", None)),
            Err(ProtocolError::MalformedData { event: "put", .. })
        ));
        assert!(matches!(
            Update::from_event(&ev("put", "{\"version\":1,\"snapshot\":\"!!\"}", None)),
            Err(ProtocolError::MalformedData { .. })
        ));
        assert!(matches!(
            Update::from_event(&ev("put", "{\"version\":1,\"snapshot\":\"\"}", Some("2"))),
            Err(ProtocolError::IdMismatch { .. })
        ));
    }

    #[test]
    fn authorization_and_etags() {
        assert_eq!(sdk_key("sdk-123"), "sdk-123");
        assert_eq!(sdk_key("Bearer sdk-123"), "sdk-123");
        assert_eq!(sdk_key("bearer  sdk-123 "), "sdk-123");
        assert_eq!(etag(42), "\"42\"");
        assert_eq!(parse_etag("\"42\""), Some(42));
        assert_eq!(parse_etag("W/\"42\""), Some(42));
        assert_eq!(parse_etag("42"), None);
        assert!(if_none_match("\"41\", \"42\"", 42));
        assert!(if_none_match("*", 42));
        assert!(!if_none_match("\"41\"", 42));
    }
}
