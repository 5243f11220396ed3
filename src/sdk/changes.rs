//! Change notifications: which flags a new snapshot may answer differently,
//! and the bounded queues that carry them to subscribers.
//!
//! [`changed_flags`] compares two snapshots at the grain of compiled units
//! (`crate::compile::link::unlink`): a flag may have changed when it was
//! added or removed, when its unit differs, or when it depends — through
//! `segment S` or `flag F is V`, at any depth — on a segment or flag that
//! changed. It may name a flag whose answers all stay the same (a rule
//! edited into an equivalent one); it never omits one whose answer changed.
//!
//! [`Changes`] is a subscriber's queue. It is bounded: a subscriber that
//! stops reading does not grow memory without limit; when the queue is full
//! the newest change is merged into the last one queued (latest version,
//! union of the flags), so nothing is lost, only coalesced.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::compile::link::unlink;
use crate::compile::unit::{FlagUnit, SegmentUnit, UnitAtom, UnitInstr};
use crate::compile::Ruleset;
use crate::snapshot::Snapshot;

/// A new state was installed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The version now serving.
    pub version: u64,
    /// The flags whose answers may have changed, sorted (removed flags
    /// included: they now answer `FLAG_NOT_FOUND`).
    pub flags: Vec<String>,
}

/// A node of the dependency graph: a flag or a segment, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Node<'a> {
    Flag(&'a str),
    Segment(&'a str),
}

/// The flags of `new` (and of `old`) whose answers may differ between the
/// two; see the module docs. With no `old` state, every flag of `new`.
pub fn changed_flags(old: Option<&Snapshot>, new: &Snapshot) -> Vec<String> {
    let Some(old) = old else {
        return sorted(new.ruleset().flag_keys());
    };
    let (Ok(old_units), Ok(new_units)) = (unlink(old.ruleset()), unlink(new.ruleset())) else {
        // Validated snapshots always unlink; if one did not, say "all".
        return sorted(old.ruleset().flag_keys().chain(new.ruleset().flag_keys()));
    };
    // Key ids in targets and include/exclude lists refer to each ruleset's
    // key table: equal ids mean equal keys only when the old table is a
    // prefix of the new one (what `compile_with_keys` keeps).
    let keys_stable = keys_are_prefix(old.ruleset(), new.ruleset());
    diff_units(&old_units, &new_units, keys_stable)
}

fn sorted<'a>(keys: impl Iterator<Item = &'a str>) -> Vec<String> {
    keys.map(str::to_string)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

fn keys_are_prefix(old: &Ruleset, new: &Ruleset) -> bool {
    let (old, new) = (old.keys(), new.keys());
    old.len() <= new.len() && (0..old.len() as u32).all(|i| old.name(i) == new.name(i))
}

type Units = (Vec<FlagUnit>, Vec<SegmentUnit>);

fn diff_units(old: &Units, new: &Units, keys_stable: bool) -> Vec<String> {
    let old_flags: HashMap<&str, &FlagUnit> = old.0.iter().map(|u| (u.key.as_str(), u)).collect();
    let old_segments: HashMap<&str, &SegmentUnit> =
        old.1.iter().map(|u| (u.name.as_str(), u)).collect();
    let new_flag_names: HashSet<&str> = new.0.iter().map(|u| u.key.as_str()).collect();
    let new_segment_names: HashSet<&str> = new.1.iter().map(|u| u.name.as_str()).collect();

    let mut changed: Vec<Node<'_>> = Vec::new();
    for unit in &new.0 {
        let same = old_flags.get(unit.key.as_str()).is_some_and(|o| {
            *o == unit && (keys_stable || unit.targets.iter().all(|(_, keys)| keys.is_empty()))
        });
        if !same {
            changed.push(Node::Flag(&unit.key));
        }
    }
    for unit in &new.1 {
        let same = old_segments
            .get(unit.name.as_str())
            .is_some_and(|o| *o == unit)
            && (keys_stable || (unit.include.is_empty() && unit.exclude.is_empty()));
        if !same {
            changed.push(Node::Segment(&unit.name));
        }
    }
    for unit in &old.0 {
        if !new_flag_names.contains(unit.key.as_str()) {
            changed.push(Node::Flag(&unit.key));
        }
    }
    for unit in &old.1 {
        if !new_segment_names.contains(unit.name.as_str()) {
            changed.push(Node::Segment(&unit.name));
        }
    }

    // Who depends on whom, in the new state: a flag or segment whose
    // dependency changed may answer differently too.
    let mut dependents: HashMap<Node<'_>, Vec<Node<'_>>> = HashMap::new();
    for unit in &new.0 {
        for dep in deps(&unit.code) {
            dependents
                .entry(dep)
                .or_default()
                .push(Node::Flag(&unit.key));
        }
    }
    for unit in &new.1 {
        for dep in deps(&unit.code) {
            dependents
                .entry(dep)
                .or_default()
                .push(Node::Segment(&unit.name));
        }
    }

    let mut seen: HashSet<Node<'_>> = changed.iter().copied().collect();
    let mut queue: VecDeque<Node<'_>> = changed.into_iter().collect();
    let mut flags = BTreeSet::new();
    while let Some(node) = queue.pop_front() {
        if let Node::Flag(key) = node {
            flags.insert(key.to_string());
        }
        for &next in dependents.get(&node).map(Vec::as_slice).unwrap_or(&[]) {
            if seen.insert(next) {
                queue.push_back(next);
            }
        }
    }
    flags.into_iter().collect()
}

fn deps(code: &[UnitInstr]) -> impl Iterator<Item = Node<'_>> {
    code.iter().filter_map(|instr| match &instr.atom {
        UnitAtom::Segment(name) => Some(Node::Segment(name)),
        UnitAtom::Prereq(flag, _) => Some(Node::Flag(flag)),
        UnitAtom::Exists(_) | UnitAtom::Cmp { .. } => None,
    })
}

/// How many changes a subscriber's queue holds before coalescing.
const QUEUE_CAPACITY: usize = 64;

#[derive(Debug, Default)]
struct QueueState {
    items: VecDeque<Change>,
    closed: bool,
}

/// The shared end of one subscription.
#[derive(Debug, Default)]
pub(crate) struct Queue {
    state: Mutex<QueueState>,
    ready: Condvar,
}

impl Queue {
    fn lock(&self) -> std::sync::MutexGuard<'_, QueueState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a change, coalescing into the last one when full.
    pub(crate) fn push(&self, change: Change) {
        let mut state = self.lock();
        if state.items.len() >= QUEUE_CAPACITY {
            if let Some(last) = state.items.back_mut() {
                last.version = change.version;
                let merged: BTreeSet<String> = last.flags.drain(..).chain(change.flags).collect();
                last.flags = merged.into_iter().collect();
            }
        } else {
            state.items.push_back(change);
        }
        drop(state);
        self.ready.notify_all();
    }

    /// No more changes will come.
    pub(crate) fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_all();
    }
}

/// Why no change was received.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecvError {
    /// None arrived in time.
    #[error("no change within the timeout")]
    Timeout,
    /// The client was closed; none will arrive.
    #[error("the client is closed")]
    Closed,
}

/// A subscription to a [`Client`](super::Client)'s changes; see the module
/// docs. Dropping it unsubscribes.
#[derive(Debug)]
pub struct Changes {
    queue: Arc<Queue>,
}

impl Changes {
    pub(crate) fn new(queue: Arc<Queue>) -> Changes {
        Changes { queue }
    }

    /// The next change, if one is queued.
    pub fn try_recv(&self) -> Result<Change, RecvError> {
        let mut state = self.queue.lock();
        match state.items.pop_front() {
            Some(change) => Ok(change),
            None if state.closed => Err(RecvError::Closed),
            None => Err(RecvError::Timeout),
        }
    }

    /// The next change, waiting at most `timeout`.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Change, RecvError> {
        let deadline = Instant::now().checked_add(timeout);
        let mut state = self.queue.lock();
        loop {
            if let Some(change) = state.items.pop_front() {
                return Ok(change);
            }
            if state.closed {
                return Err(RecvError::Closed);
            }
            let wait = match deadline {
                Some(d) => match d.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => left,
                    _ => return Err(RecvError::Timeout),
                },
                None => Duration::from_secs(3600),
            };
            state = match self.queue.ready.wait_timeout(state, wait) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }

    /// The next change, waiting for as long as the client is open.
    pub fn recv(&self) -> Result<Change, RecvError> {
        loop {
            match self.recv_timeout(Duration::from_secs(3600)) {
                Err(RecvError::Timeout) => continue,
                other => return other,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::Source;
    use crate::compile::{compile_text, compile_with_keys};
    use crate::snapshot::SnapshotMeta;

    fn snap(text: &str, version: u64) -> Snapshot {
        let rs = compile_text(text);
        Snapshot::new(
            rs,
            SnapshotMeta {
                version,
                environment: "test".into(),
            },
        )
    }

    const BASE: &str = r#"
        segment beta { include ["u1"] }
        segment eu { match country in ["FR", "DE"] }
        flag a { default off rule if segment beta => on }
        flag b { default off rule if flag a is on => on }
        flag c { default on }
        flag d { default off rule if segment eu => on }
    "#;

    #[test]
    fn first_state_names_every_flag() {
        assert_eq!(changed_flags(None, &snap(BASE, 1)), ["a", "b", "c", "d"]);
    }

    #[test]
    fn an_identical_state_changes_nothing() {
        assert!(changed_flags(Some(&snap(BASE, 1)), &snap(BASE, 2)).is_empty());
    }

    #[test]
    fn an_edited_flag_and_its_dependents() {
        let new = BASE.replace("flag a { default off", "flag a { default on");
        assert_eq!(
            changed_flags(Some(&snap(BASE, 1)), &snap(&new, 2)),
            ["a", "b"]
        );
        let new = BASE.replace("flag c { default on }", "flag c { default off }");
        assert_eq!(changed_flags(Some(&snap(BASE, 1)), &snap(&new, 2)), ["c"]);
    }

    #[test]
    fn a_changed_segment_reaches_flags_through_prerequisites() {
        let new = BASE.replace(r#"include ["u1"]"#, r#"include ["u1", "u2"]"#);
        assert_eq!(
            changed_flags(Some(&snap(BASE, 1)), &snap(&new, 2)),
            ["a", "b"]
        );
        let new = BASE.replace(r#"["FR", "DE"]"#, r#"["FR"]"#);
        assert_eq!(changed_flags(Some(&snap(BASE, 1)), &snap(&new, 2)), ["d"]);
    }

    #[test]
    fn added_and_removed_flags() {
        let new = BASE.replace("flag c { default on }", "flag e { default on }");
        assert_eq!(
            changed_flags(Some(&snap(BASE, 1)), &snap(&new, 2)),
            ["c", "e"]
        );
    }

    #[test]
    fn renumbered_keys_make_keyed_flags_suspect() {
        // Compiled afresh with a new key first, "u1" gets another id: the
        // units of `a`'s segment compare unequal only through the key table.
        let old = snap(BASE, 1);
        let new_text = format!("flag z {{ default off target on [\"u0\"] }}\n{BASE}");
        let new = snap(&new_text, 2);
        let flags = changed_flags(Some(&old), &new);
        assert!(flags.contains(&"a".to_string()) && flags.contains(&"b".to_string()));
        assert!(!flags.contains(&"c".to_string()), "{flags:?}");

        // With stable keys only the new flag is named.
        let sources = [Source {
            name: "c.flags".into(),
            text: new_text,
        }];
        let program = crate::check::check(&sources, &Default::default()).expect("checks");
        let rs = compile_with_keys(&program, Some(old.ruleset())).expect("compiles");
        let stable = Snapshot::new(
            rs,
            SnapshotMeta {
                version: 2,
                environment: "test".into(),
            },
        );
        assert_eq!(changed_flags(Some(&old), &stable), ["z"]);
    }

    #[test]
    fn queues_coalesce_when_full_and_close() {
        let queue = Arc::new(Queue::default());
        let changes = Changes::new(queue.clone());
        assert_eq!(changes.try_recv(), Err(RecvError::Timeout));
        for v in 0..(QUEUE_CAPACITY as u64 + 10) {
            queue.push(Change {
                version: v,
                flags: vec![format!("f{v}")],
            });
        }
        let mut got = Vec::new();
        while let Ok(c) = changes.try_recv() {
            got.push(c);
        }
        assert_eq!(got.len(), QUEUE_CAPACITY);
        let last = got.last().expect("some");
        assert_eq!(last.version, QUEUE_CAPACITY as u64 + 9);
        assert_eq!(last.flags.len(), 11, "the last slot holds the merged flags");
        assert_eq!(
            changes.recv_timeout(Duration::from_millis(10)),
            Err(RecvError::Timeout)
        );
        queue.close();
        assert_eq!(changes.recv(), Err(RecvError::Closed));
    }
}
