//! One environment's state as served: the current snapshot, a window of
//! recent deltas, and the fan-out to every connected stream.
//!
//! A `Hub` is what origin and relay have in common. Whoever produces state
//! (the origin's publish path, a relay's upstream feed) hands it a new
//! snapshot, with the delta that led to it when there is one; the hub encodes
//! each event once ([`Update::to_sse`]) and shares those bytes with every
//! subscriber through a `tokio::sync::broadcast` channel, so a thousand
//! streams cost one encoding, not a thousand. A subscriber that falls more
//! than [`HubConfig::channel_capacity`] events behind lags out: its stream
//! ends, and it reconnects with `Last-Event-ID`, which the window of deltas
//! answers without a full state when it can.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::SystemTime;

use bytes::Bytes;
use tokio::sync::broadcast;

use crate::protocol::Update;
use crate::snapshot::Snapshot;

/// Sizing of a hub.
///
/// New knobs may be added: start from `HubConfig::default()` and use the
/// `with_*` setters.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct HubConfig {
    /// Events a subscriber may fall behind before it is dropped.
    pub channel_capacity: usize,
    /// Recent deltas kept for `Last-Event-ID` resume.
    pub window: usize,
    /// Cap on the bytes of the kept deltas (oldest dropped first).
    pub window_bytes: usize,
}

impl Default for HubConfig {
    fn default() -> Self {
        HubConfig {
            channel_capacity: 64,
            window: 128,
            window_bytes: 64 << 20,
        }
    }
}

impl HubConfig {
    /// This sizing with `channel_capacity` set.
    pub fn with_channel_capacity(mut self, events: usize) -> HubConfig {
        self.channel_capacity = events;
        self
    }

    /// This sizing with `window` set.
    pub fn with_window(mut self, deltas: usize) -> HubConfig {
        self.window = deltas;
        self
    }

    /// This sizing with `window_bytes` set.
    pub fn with_window_bytes(mut self, bytes: usize) -> HubConfig {
        self.window_bytes = bytes;
        self
    }
}

/// The state being served.
#[derive(Clone)]
pub(crate) struct Current {
    /// The validated snapshot (for evaluation, patching, inspection).
    pub snapshot: Arc<Snapshot>,
    /// Its file bytes: the body of `GET /v1/snapshot`.
    pub bytes: Bytes,
    /// Its `put` event, framed, encoded when first wanted: a state that
    /// arrives as a delta is sent as one, and its `put` (the whole
    /// snapshot, encoded) is needed only by a stream that cannot resume.
    /// Shared by the clones, so it is encoded at most once.
    put: Arc<OnceLock<Bytes>>,
}

impl Current {
    fn new(snapshot: Arc<Snapshot>, bytes: Bytes) -> Current {
        Current {
            snapshot,
            bytes,
            put: Arc::default(),
        }
    }

    /// The `put` event of this state.
    fn put(&self) -> Bytes {
        self.put
            .get_or_init(|| {
                Update::Full {
                    version: self.snapshot.version(),
                    snapshot: self.bytes.to_vec(),
                }
                .to_sse()
                .into()
            })
            .clone()
    }

    /// The version served.
    pub fn version(&self) -> u64 {
        self.snapshot.version()
    }
}

/// One kept delta: the SSE-framed `patch` event from `base` to `version`.
struct Delta {
    base: u64,
    version: u64,
    event: Bytes,
}

struct State {
    current: Option<Current>,
    deltas: VecDeque<Delta>,
    window_bytes: usize,
    /// When the producer last lost its source (a relay's upstream), if it has.
    stale_since: Option<SystemTime>,
}

/// What a new subscriber gets: the events it missed, then the live feed.
pub(crate) struct Subscription {
    /// Events to send first (a full state, or the missed deltas, or nothing).
    pub backlog: Vec<Bytes>,
    /// Every event published from now on.
    pub live: broadcast::Receiver<Bytes>,
}

/// One environment's served state; see the module docs.
pub(crate) struct Hub {
    config: HubConfig,
    state: Mutex<State>,
    sender: broadcast::Sender<Bytes>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("version", &self.version())
            .finish_non_exhaustive()
    }
}

impl Hub {
    /// A hub with no state yet.
    pub fn new(config: HubConfig) -> Hub {
        let (sender, _) = broadcast::channel(config.channel_capacity.max(1));
        Hub {
            config,
            state: Mutex::new(State {
                current: None,
                deltas: VecDeque::new(),
                window_bytes: 0,
                stale_since: None,
            }),
            sender,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the state half-written
        // (every write below is a few assignments), so poisoning is ignored.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The state served, if any.
    pub fn current(&self) -> Option<Current> {
        self.lock().current.clone()
    }

    /// The version served, if any.
    pub fn version(&self) -> Option<u64> {
        self.lock().current.as_ref().map(Current::version)
    }

    /// Since when the state has been stale (its source lost), if it is.
    pub fn stale_since(&self) -> Option<SystemTime> {
        self.lock().stale_since
    }

    /// Marks the state stale (source lost) or fresh again.
    pub fn set_stale(&self, stale: bool) {
        let mut state = self.lock();
        match (stale, state.stale_since) {
            (true, None) => state.stale_since = Some(SystemTime::now()),
            (false, Some(_)) => state.stale_since = None,
            _ => {}
        }
    }

    /// Serves `snapshot` (whose file bytes are `bytes`) as a full state:
    /// subscribers get a `put`, the delta window restarts.
    pub fn publish_full(&self, snapshot: Arc<Snapshot>, bytes: Bytes) {
        let current = Current::new(snapshot, bytes);
        // Every subscriber gets it: encoded now, outside the lock.
        current.put();
        let mut state = self.lock();
        self.install_full(&mut state, current);
    }

    fn install_full(&self, state: &mut State, current: Current) {
        state.deltas.clear();
        state.window_bytes = 0;
        let put = current.put();
        state.current = Some(current);
        // No receivers is not an error: nobody is listening yet.
        let _ = self.sender.send(put);
    }

    /// Serves `snapshot` as the successor of version `base` by the delta
    /// `patch`: subscribers get the `patch` event, which is also kept for
    /// resume. When the hub does not hold `base`, this is a full state.
    pub fn publish_delta(&self, snapshot: Arc<Snapshot>, bytes: Bytes, base: u64, patch: &[u8]) {
        let version = snapshot.version();
        let current = Current::new(snapshot, bytes);
        let event = Bytes::from(
            Update::Delta {
                version,
                base,
                patch: patch.to_vec(),
            }
            .to_sse(),
        );
        let mut state = self.lock();
        if state.current.as_ref().map(Current::version) != Some(base) {
            self.install_full(&mut state, current);
            return;
        }
        state.window_bytes += event.len();
        state.deltas.push_back(Delta {
            base,
            version,
            event: event.clone(),
        });
        while state.deltas.len() > self.config.window
            || (state.window_bytes > self.config.window_bytes && state.deltas.len() > 1)
        {
            if let Some(old) = state.deltas.pop_front() {
                state.window_bytes -= old.event.len();
            }
        }
        state.current = Some(current);
        let _ = self.sender.send(event);
    }

    /// Seeds the delta window with stored patches, oldest first:
    /// `(version, patch from version - 1)`, e.g. after a restart, so clients
    /// resume by delta. Only the run that ends at the current version and
    /// is contiguous is kept; nothing is broadcast.
    pub fn remember(&self, patches: &[(u64, Vec<u8>)]) {
        let mut state = self.lock();
        let Some(mut expected) = state.current.as_ref().map(Current::version) else {
            return;
        };
        let mut kept = VecDeque::new();
        for (version, patch) in patches.iter().rev() {
            if *version != expected || *version == 0 || kept.len() >= self.config.window {
                break;
            }
            let event = Bytes::from(
                Update::Delta {
                    version: *version,
                    base: version - 1,
                    patch: patch.clone(),
                }
                .to_sse(),
            );
            kept.push_front(Delta {
                base: version - 1,
                version: *version,
                event,
            });
            expected = version - 1;
        }
        state.window_bytes = kept.iter().map(|d| d.event.len()).sum();
        state.deltas = kept;
    }

    /// Subscribes a stream that holds `last_event_id` (the version it has),
    /// or nothing. `None` when the hub has no state to serve yet.
    ///
    /// The backlog is: nothing when the subscriber is current; the missed
    /// deltas when the window holds every one of them; otherwise (too old,
    /// unknown, or newer than this hub — a client that was on a fresher
    /// relay) the full state, never silence. Taken under the same lock as
    /// publishing, so no event falls between the backlog and the live feed.
    pub fn subscribe(&self, last_event_id: Option<u64>) -> Option<Subscription> {
        let state = self.lock();
        let current = state.current.as_ref()?;
        let live = self.sender.subscribe();
        let backlog = match last_event_id {
            Some(held) if held == current.version() => Vec::new(),
            Some(held) => match missed(&state.deltas, held, current.version()) {
                Some(events) => events,
                None => vec![current.put()],
            },
            None => vec![current.put()],
        };
        Some(Subscription { backlog, live })
    }
}

/// The delta events from `held` up to `current`, if the window has them all.
fn missed(deltas: &VecDeque<Delta>, held: u64, current: u64) -> Option<Vec<Bytes>> {
    if held > current {
        return None;
    }
    let start = deltas.iter().position(|d| d.base == held)?;
    let mut events = Vec::new();
    let mut at = held;
    for d in deltas.iter().skip(start) {
        if d.base != at {
            return None;
        }
        events.push(d.event.clone());
        at = d.version;
    }
    (at == current).then_some(events)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::compile_text;
    use crate::protocol::{SseParser, Update};
    use crate::snapshot::{make_patch_from, SnapshotMeta};

    fn snap(version: u64) -> Arc<Snapshot> {
        let rs = compile_text(&format!(
            "flag f {{ variations {{ a: {version}, b: 0 }} default a }}"
        ));
        Arc::new(Snapshot::new(
            rs,
            SnapshotMeta {
                version,
                environment: "e".into(),
            },
        ))
    }

    fn decode(events: &[Bytes]) -> Vec<Update> {
        let mut parser = SseParser::default();
        let mut out = Vec::new();
        for e in events {
            parser.feed(e, &mut out).unwrap();
        }
        out.iter().map(|e| Update::from_event(e).unwrap()).collect()
    }

    fn hub_with(versions: u64) -> Hub {
        let hub = Hub::new(HubConfig {
            window: 3,
            ..HubConfig::default()
        });
        let first = snap(1);
        hub.publish_full(first.clone(), first.to_bytes().into());
        let mut prev = first;
        for v in 2..=versions {
            let next = snap(v);
            let patch = make_patch_from(&prev, &next).unwrap();
            hub.publish_delta(next.clone(), next.to_bytes().into(), v - 1, &patch);
            prev = next;
        }
        hub
    }

    #[test]
    fn no_state_no_subscription() {
        assert!(Hub::new(HubConfig::default()).subscribe(None).is_none());
    }

    #[test]
    fn resume_sends_only_what_was_missed_or_the_full_state() {
        let hub = hub_with(6);
        let kinds = |held: Option<u64>| -> Vec<(bool, u64)> {
            let sub = hub.subscribe(held).unwrap();
            decode(&sub.backlog)
                .iter()
                .map(|u| (matches!(u, Update::Full { .. }), u.version()))
                .collect()
        };
        assert_eq!(kinds(None), vec![(true, 6)]);
        assert_eq!(kinds(Some(6)), vec![]);
        assert_eq!(kinds(Some(4)), vec![(false, 5), (false, 6)]);
        assert_eq!(kinds(Some(3)), vec![(false, 4), (false, 5), (false, 6)]);
        // Out of the window of 3 deltas, unknown, or newer than the hub.
        assert_eq!(kinds(Some(2)), vec![(true, 6)]);
        assert_eq!(kinds(Some(99)), vec![(true, 6)]);
    }

    #[test]
    fn live_events_are_shared_bytes_and_laggards_are_cut_off() {
        let hub = Hub::new(HubConfig {
            channel_capacity: 2,
            ..HubConfig::default()
        });
        let first = snap(1);
        hub.publish_full(first.clone(), first.to_bytes().into());
        let mut a = hub.subscribe(Some(1)).unwrap().live;
        let mut b = hub.subscribe(Some(1)).unwrap().live;
        let mut prev = first;
        for v in 2..=5 {
            let next = snap(v);
            let patch = make_patch_from(&prev, &next).unwrap();
            hub.publish_delta(next.clone(), next.to_bytes().into(), v - 1, &patch);
            if v == 2 {
                let got = a.try_recv().unwrap();
                assert_eq!(decode(&[got])[0].version(), 2);
            }
            prev = next;
        }
        // b never read: it lagged past the capacity.
        assert!(matches!(
            b.try_recv(),
            Err(broadcast::error::TryRecvError::Lagged(_))
        ));
        assert_eq!(hub.version(), Some(5));
    }

    #[test]
    fn a_state_that_came_as_a_delta_encodes_its_put_only_when_a_stream_needs_it() {
        let hub = hub_with(3);
        let encoded = |hub: &Hub| {
            let state = hub.lock();
            state.current.as_ref().map(|c| c.put.get().is_some())
        };
        // Deltas and resumes by delta encode no full state.
        assert_eq!(encoded(&hub), Some(false));
        let resumed = hub.subscribe(Some(2)).unwrap();
        assert_eq!(decode(&resumed.backlog)[..].len(), 1);
        assert_eq!(encoded(&hub), Some(false));
        // A stream that holds nothing gets the full state, encoded once.
        let fresh = hub.subscribe(None).unwrap();
        assert!(matches!(
            decode(&fresh.backlog)[..],
            [Update::Full { version: 3, .. }]
        ));
        assert_eq!(encoded(&hub), Some(true));
        let again = hub.subscribe(None).unwrap();
        assert_eq!(again.backlog, fresh.backlog);
    }

    #[test]
    fn a_delta_for_another_base_becomes_a_full_state() {
        let hub = hub_with(2);
        let v4 = snap(4);
        let patch = make_patch_from(&snap(3), &v4).unwrap();
        hub.publish_delta(v4.clone(), v4.to_bytes().into(), 3, &patch);
        let sub = hub.subscribe(Some(2)).unwrap();
        assert!(matches!(
            decode(&sub.backlog)[..],
            [Update::Full { version: 4, .. }]
        ));
    }
}
