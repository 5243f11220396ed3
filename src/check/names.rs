//! The shared namespace: every flag and segment of every file, by name.
//!
//! Takes the parsed files in the order given and declares their items: flags
//! and segments live in two namespaces shared by all files, and a name defined
//! twice is reported at the second definition. Each flag's variation table is
//! settled here too (duplicate names, `null` values, mixed types), because
//! `flag F is V` in any other flag or segment must resolve `V` against it.
//! Hands on a [`Namespace`] that the lowering and the graph stages read.

use super::diagnostic::Diags;
use super::program::{FlagId, SegmentId, Variation, VariationId};
use crate::syntax::ast::{FlagDecl, FlagItemKind, Ident, Item, SegmentDecl, SourceFile};
use std::collections::HashMap;

/// A flag or a segment: a vertex of the reference graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Node {
    /// A flag that made it into the namespace.
    Flag(FlagId),
    /// A segment that made it into the namespace.
    Segment(SegmentId),
}

/// A flag's variations, in the order written, duplicates left out.
#[derive(Debug, Clone)]
pub(crate) struct VariationTable {
    /// The variations; a [`VariationId`] indexes this.
    pub variations: Vec<Variation>,
    /// Whether the flag has a `variations` block (else it is boolean).
    pub declared: bool,
    /// Position of each name in `variations` (a flag may have many, and
    /// every target, rule and split arm looks one up).
    by_name: HashMap<String, VariationId>,
}

impl VariationTable {
    /// The boolean table `{ on: true, off: false }`.
    fn boolean() -> VariationTable {
        VariationTable {
            variations: vec![
                Variation {
                    name: "on".into(),
                    value: serde_json::Value::Bool(true),
                },
                Variation {
                    name: "off".into(),
                    value: serde_json::Value::Bool(false),
                },
            ],
            declared: false,
            by_name: [("on", 0), ("off", 1)]
                .into_iter()
                .map(|(n, i)| (n.to_string(), VariationId(i)))
                .collect(),
        }
    }

    /// Finds a variation by name.
    pub fn find(&self, name: &str) -> Option<VariationId> {
        self.by_name.get(name).copied()
    }

    /// The names, comma-separated, for messages.
    /// At most the first 16: a message about one name must not list thousands.
    pub fn names(&self) -> String {
        const SHOWN: usize = 16;
        let names: Vec<&str> = self
            .variations
            .iter()
            .take(SHOWN)
            .map(|v| v.name.as_str())
            .collect();
        let more = self.variations.len().saturating_sub(SHOWN);
        if more > 0 {
            format!("{}, and {more} more", names.join(", "))
        } else {
            names.join(", ")
        }
    }
}

/// A declared flag: its syntax, where it is, and its variations.
#[derive(Debug)]
pub(crate) struct FlagHead<'a> {
    /// The flag as parsed.
    pub decl: &'a FlagDecl,
    /// Index of its file.
    pub file: usize,
    /// Its variations.
    pub table: VariationTable,
}

/// A declared segment.
#[derive(Debug)]
pub(crate) struct SegmentHead<'a> {
    /// The segment as parsed.
    pub decl: &'a SegmentDecl,
    /// Index of its file.
    pub file: usize,
}

/// All definitions of all files.
#[derive(Debug, Default)]
pub(crate) struct Namespace<'a> {
    /// Flags, first definitions only; [`FlagId`] indexes this.
    pub flags: Vec<FlagHead<'a>>,
    /// Segments, first definitions only; [`SegmentId`] indexes this.
    pub segments: Vec<SegmentHead<'a>>,
    /// Second (and later) definitions of a flag name: checked, then dropped.
    pub duplicate_flags: Vec<FlagHead<'a>>,
    /// Second (and later) definitions of a segment name: checked, then dropped.
    pub duplicate_segments: Vec<SegmentHead<'a>>,
    /// Flags and segments in definition order (files in the order given).
    pub order: Vec<Node>,
    flag_ids: HashMap<&'a str, FlagId>,
    segment_ids: HashMap<&'a str, SegmentId>,
}

impl<'a> Namespace<'a> {
    /// Declares every item of every file, reporting duplicate names and bad
    /// variation blocks.
    pub fn build(files: &'a [(usize, SourceFile)], diags: &mut Diags) -> Namespace<'a> {
        let mut ns = Namespace::default();
        for (file, source) in files {
            let file = *file;
            for item in &source.items {
                match item {
                    Item::Flag(decl) => {
                        let head = FlagHead {
                            decl,
                            file,
                            table: variation_table(decl, file, diags),
                        };
                        let name = decl.name.name.as_str();
                        if let Some(first) = ns.flag_ids.get(name) {
                            let first = ns.flags.get(first.0 as usize);
                            let first = first.map(|h| (h.file, h.decl.name.span));
                            duplicate(diags, "flag", &decl.name, file, first);
                            ns.duplicate_flags.push(head);
                        } else {
                            let id = FlagId(ns.flags.len() as u32);
                            ns.flag_ids.insert(name, id);
                            ns.flags.push(head);
                            ns.order.push(Node::Flag(id));
                        }
                    }
                    Item::Segment(decl) => {
                        let head = SegmentHead { decl, file };
                        let name = decl.name.name.as_str();
                        if let Some(first) = ns.segment_ids.get(name) {
                            let first = ns.segments.get(first.0 as usize);
                            let first = first.map(|h| (h.file, h.decl.name.span));
                            duplicate(diags, "segment", &decl.name, file, first);
                            ns.duplicate_segments.push(head);
                        } else {
                            let id = SegmentId(ns.segments.len() as u32);
                            ns.segment_ids.insert(name, id);
                            ns.segments.push(head);
                            ns.order.push(Node::Segment(id));
                        }
                    }
                }
            }
        }
        ns
    }

    /// Finds a flag by key.
    pub fn flag(&self, name: &str) -> Option<(FlagId, &FlagHead<'a>)> {
        let id = *self.flag_ids.get(name)?;
        self.flags.get(id.0 as usize).map(|h| (id, h))
    }

    /// Finds a segment by name.
    pub fn segment(&self, name: &str) -> Option<SegmentId> {
        self.segment_ids.get(name).copied()
    }

    /// How a node is named in messages, e.g. ``flag `a` ``.
    pub fn describe(&self, node: Node) -> String {
        match node {
            Node::Flag(id) => match self.flags.get(id.0 as usize) {
                Some(h) => format!("flag `{}`", h.decl.name.name),
                None => "a flag".into(),
            },
            Node::Segment(id) => match self.segments.get(id.0 as usize) {
                Some(h) => format!("segment `{}`", h.decl.name.name),
                None => "a segment".into(),
            },
        }
    }
}

/// The label pointing at the first definition of a duplicated name.
fn first_defined(file: usize, span: crate::syntax::ast::Span) -> super::Label {
    super::Label {
        file,
        span,
        message: "first defined".to_string(),
    }
}

/// Reports a second definition of `name` (a `what`) in `file`, pointing at
/// the first one (`first`: its file and span) when it is known.
fn duplicate(
    diags: &mut Diags,
    what: &str,
    name: &Ident,
    file: usize,
    first: Option<(usize, crate::syntax::ast::Span)>,
) {
    let place = if first.map(|(f, _)| f) == Some(file) {
        "earlier in this file"
    } else {
        "in another file"
    };
    let message = format!(
        "duplicate {what} `{}` (first defined {place}); {what} names must be unique across all files",
        name.name
    );
    match first {
        Some((first_file, span)) => {
            diags.error_with_label(file, name.span, message, first_defined(first_file, span))
        }
        None => diags.error(file, name.span, message),
    }
}

/// The JSON type of a variation value, for messages; `None` for `null`.
fn json_type(value: &serde_json::Value) -> Option<&'static str> {
    match value {
        serde_json::Value::Null => None,
        serde_json::Value::Bool(_) => Some("a boolean"),
        serde_json::Value::Number(_) => Some("a number"),
        serde_json::Value::String(_) => Some("a string"),
        serde_json::Value::Array(_) => Some("an array"),
        serde_json::Value::Object(_) => Some("an object"),
    }
}

/// A flag's variation table from its first `variations` block, reporting
/// duplicate names, `null` values and mixed types.
fn variation_table(decl: &FlagDecl, file: usize, diags: &mut Diags) -> VariationTable {
    let block = decl.items.iter().find_map(|item| match &item.kind {
        FlagItemKind::Variations(vs) => Some(vs),
        _ => None,
    });
    let Some(block) = block else {
        return VariationTable::boolean();
    };
    let flag = &decl.name.name;
    let mut variations: Vec<Variation> = Vec::new();
    let mut by_name: HashMap<String, VariationId> = HashMap::new();
    // The first variation's type (the first non-null one when it is `null`).
    let mut first: Option<(&str, &'static str)> = None;
    let mut mixed_reported = false;
    for v in block {
        if by_name.contains_key(&v.name.name) {
            let message = format!("duplicate variation `{}` in flag `{flag}`", v.name.name);
            match block.iter().find(|first| first.name.name == v.name.name) {
                Some(first) => diags.error_with_label(
                    file,
                    v.name.span,
                    message,
                    first_defined(file, first.name.span),
                ),
                None => diags.error(file, v.name.span, message),
            }
            continue;
        }
        match json_type(&v.value) {
            None => diags.error(
                file,
                v.value_span,
                format!(
                    "variation `{}` of flag `{flag}` is null; a variation must be a boolean, number, string, object or array",
                    v.name.name
                ),
            ),
            Some(ty) => match first {
                None => first = Some((v.name.name.as_str(), ty)),
                Some((first_name, first_ty)) if first_ty != ty && !mixed_reported => {
                    mixed_reported = true;
                    diags.error(
                        file,
                        v.value_span,
                        format!(
                            "variation `{}` of flag `{flag}` is {ty}, but variation `{first_name}` is {first_ty}; all variations of a flag must have one type",
                            v.name.name
                        ),
                    );
                }
                Some(_) => {}
            },
        }
        by_name.insert(v.name.name.clone(), VariationId(variations.len() as u32));
        variations.push(Variation {
            name: v.name.name.clone(),
            value: v.value.clone(),
        });
    }
    VariationTable {
        variations,
        declared: true,
        by_name,
    }
}
