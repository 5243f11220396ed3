//! The reference graph: cycles, segment nesting and prerequisite chains.
//!
//! Flags and segments are one graph: a flag points at the segments of its
//! rules and at its prerequisites (`flag F is V`); a segment points at the
//! segments and flags of its `match` lines. One depth-first search, visiting
//! definitions in file order and references in source order, reports every
//! back edge (a reference that closes a cycle) at the reference, and in the
//! same pass computes, in post-order, each segment's nesting depth and each
//! flag's prerequisite chain depth against the cap. Nodes that are on a cycle
//! or reach one get no depth: their cycle is already reported.

use super::cond::Ref;
use super::diagnostic::Diags;
use super::names::{Namespace, Node};
use super::program::{FlagId, SegmentId};
use crate::limits::MAX_REFERENCE_DEPTH;

/// The references out of every flag and segment, in source order.
pub(crate) struct Graph {
    /// Indexed by [`FlagId`].
    pub flag_refs: Vec<Vec<Ref>>,
    /// Indexed by [`SegmentId`].
    pub segment_refs: Vec<Vec<Ref>>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Color {
    White,
    Gray,
    Black,
}

impl Graph {
    fn index(&self, node: Node) -> usize {
        match node {
            Node::Flag(FlagId(i)) => i as usize,
            Node::Segment(SegmentId(i)) => self.flag_refs.len() + i as usize,
        }
    }

    fn refs(&self, node: Node) -> &[Ref] {
        let list = match node {
            Node::Flag(FlagId(i)) => self.flag_refs.get(i as usize),
            Node::Segment(SegmentId(i)) => self.segment_refs.get(i as usize),
        };
        list.map(Vec::as_slice).unwrap_or(&[])
    }

    /// Reports cycles and depth caps.
    pub fn check(&self, ns: &Namespace<'_>, max_depth: usize, diags: &mut Diags) {
        let n = self.flag_refs.len() + self.segment_refs.len();
        let mut color = vec![Color::White; n];
        // On or reaching a cycle.
        let mut cyclic = vec![false; n];
        // Flags: prerequisite chain depth. Segments: the deepest chain of the
        // flags they refer to (0 when none).
        let mut chain = vec![0usize; n];
        // Segments: nesting depth.
        let mut nesting = vec![0usize; n];
        // Both: the most flags and segments on one path of references from
        // here (itself included), which is how deep evaluation recurses.
        let mut path = vec![0usize; n];
        let mut stack: Vec<(Node, usize)> = Vec::new();

        for &root in &ns.order {
            if color[self.index(root)] != Color::White {
                continue;
            }
            color[self.index(root)] = Color::Gray;
            stack.push((root, 0));
            while let Some(&mut (node, ref mut next)) = stack.last_mut() {
                let refs = self.refs(node);
                if let Some(r) = refs.get(*next) {
                    *next += 1;
                    let to = self.index(r.to);
                    match color[to] {
                        Color::White => {
                            color[to] = Color::Gray;
                            stack.push((r.to, 0));
                        }
                        Color::Gray => {
                            let from = self.index(node);
                            cyclic[from] = true;
                            let start = stack.iter().position(|(s, _)| *s == r.to).unwrap_or(0);
                            let on_cycle = &stack[start..];
                            // A long cycle is named by its ends: describing
                            // every member of every cycle would be quadratic.
                            let mut path: Vec<String> = if on_cycle.len() > 12 {
                                let mut ends: Vec<String> =
                                    on_cycle[..5].iter().map(|(s, _)| ns.describe(*s)).collect();
                                ends.push(format!("… {} more …", on_cycle.len() - 10));
                                ends.extend(
                                    on_cycle[on_cycle.len() - 5..]
                                        .iter()
                                        .map(|(s, _)| ns.describe(*s)),
                                );
                                ends
                            } else {
                                on_cycle.iter().map(|(s, _)| ns.describe(*s)).collect()
                            };
                            path.push(ns.describe(r.to));
                            diags.error(
                                r.file,
                                r.span,
                                format!(
                                    "this reference to {} closes a cycle: {}",
                                    ns.describe(r.to),
                                    path.join(" → ")
                                ),
                            );
                        }
                        Color::Black => {}
                    }
                    continue;
                }
                // All references done: finish the node.
                stack.pop();
                let i = self.index(node);
                color[i] = Color::Black;
                if refs.iter().any(|r| cyclic[self.index(r.to)]) {
                    cyclic[i] = true;
                }
                if cyclic[i] {
                    continue;
                }
                let longest = refs
                    .iter()
                    .map(|r| path[self.index(r.to)])
                    .max()
                    .unwrap_or(0);
                path[i] = longest.saturating_add(1);
                // Reported where the path first grows too long, not again at
                // every definition above it.
                if path[i] > MAX_REFERENCE_DEPTH + 1 && longest <= MAX_REFERENCE_DEPTH + 1 {
                    let head = match node {
                        Node::Flag(FlagId(f)) => {
                            ns.flags.get(f as usize).map(|h| (h.file, &h.decl.name))
                        }
                        Node::Segment(SegmentId(s)) => {
                            ns.segments.get(s as usize).map(|h| (h.file, &h.decl.name))
                        }
                    };
                    if let Some((file, name)) = head {
                        diags.error(
                            file,
                            name.span,
                            format!(
                                "{} starts a chain of {} references through segments and prerequisites, more than the {MAX_REFERENCE_DEPTH} evaluation follows; shorten it",
                                ns.describe(node),
                                path[i] - 1
                            ),
                        );
                    }
                }
                // Chain depth counts direct prerequisites only (`flag F is V`
                // written in the flag's own rules); segments nest separately.
                let deepest_chain = refs
                    .iter()
                    .filter(|r| matches!(r.to, Node::Flag(_)))
                    .map(|r| chain[self.index(r.to)])
                    .max()
                    .unwrap_or(0);
                match node {
                    Node::Flag(FlagId(f)) => {
                        chain[i] = deepest_chain + 1;
                        if chain[i] > max_depth {
                            if let Some(head) = ns.flags.get(f as usize) {
                                diags.error(
                                    head.file,
                                    head.decl.name.span,
                                    format!(
                                        "flag `{}` has prerequisite chain depth {}, over the limit of {max_depth}",
                                        head.decl.name.name, chain[i]
                                    ),
                                );
                            }
                        }
                    }
                    Node::Segment(SegmentId(s)) => {
                        chain[i] = 0;
                        let deepest_nesting = refs
                            .iter()
                            .filter(|r| matches!(r.to, Node::Segment(_)))
                            .map(|r| nesting[self.index(r.to)])
                            .max()
                            .unwrap_or(0);
                        nesting[i] = deepest_nesting + 1;
                        if nesting[i] > max_depth {
                            if let Some(head) = ns.segments.get(s as usize) {
                                diags.error(
                                    head.file,
                                    head.decl.name.span,
                                    format!(
                                        "segment `{}` has nesting depth {}, over the limit of {max_depth}",
                                        head.decl.name.name, nesting[i]
                                    ),
                                );
                            }
                        }
                    }
                }
            }
        }
    }
}
