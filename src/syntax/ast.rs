//! The syntax tree of a `.flags` file, exactly as written.
//!
//! Every name and literal keeps its byte [`Span`] so later stages can point at
//! it. Nothing here is resolved or validated beyond what the grammar enforces:
//! that is the checker's job (`crate::check`), which turns this tree into the
//! resolved program the interpreter and the compiler consume.

/// A byte range in one source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Span {
    /// First byte.
    pub start: u32,
    /// One past the last byte.
    pub end: u32,
}

impl Span {
    /// A span from byte offsets.
    pub fn new(start: usize, end: usize) -> Span {
        Span {
            start: u32::try_from(start).unwrap_or(u32::MAX),
            end: u32::try_from(end).unwrap_or(u32::MAX),
        }
    }

    /// The span covering both `self` and `other`.
    pub fn to(self, other: Span) -> Span {
        Span {
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }
}

/// A name (flag, segment, variation or attribute) and where it is written.
#[derive(Debug, Clone, PartialEq)]
pub struct Ident {
    /// The name.
    pub name: String,
    /// Where it is written.
    pub span: Span,
}

/// A string literal, decoded, and where it is written.
#[derive(Debug, Clone, PartialEq)]
pub struct StrLit {
    /// The decoded text.
    pub value: String,
    /// Where it is written, quotes included.
    pub span: Span,
}

/// One parsed `.flags` file.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SourceFile {
    /// Its segments and flags in order.
    pub items: Vec<Item>,
}

/// A top-level declaration.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// `segment NAME { ... }`
    Segment(SegmentDecl),
    /// `flag NAME { ... }`
    Flag(FlagDecl),
}

/// `segment NAME { include [...] exclude [...] match COND ... }`
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentDecl {
    /// The segment's name.
    pub name: Ident,
    /// Its lines in order.
    pub items: Vec<SegmentItem>,
}

/// One line of a segment.
#[derive(Debug, Clone, PartialEq)]
pub enum SegmentItem {
    /// Context keys always in the segment.
    Include(Vec<StrLit>),
    /// Context keys never in it.
    Exclude(Vec<StrLit>),
    /// A condition; several are OR-ed.
    Match(Cond),
}

/// `flag NAME { ... }`
#[derive(Debug, Clone, PartialEq)]
pub struct FlagDecl {
    /// The flag's key.
    pub name: Ident,
    /// Its items in order.
    pub items: Vec<FlagItem>,
}

/// One item of a flag, with the span of its leading keyword.
#[derive(Debug, Clone, PartialEq)]
pub struct FlagItem {
    /// What the item says.
    pub kind: FlagItemKind,
    /// The item's keyword.
    pub span: Span,
}

/// What a flag item says.
#[derive(Debug, Clone, PartialEq)]
pub enum FlagItemKind {
    /// `variations { name: json, ... }`
    Variations(Vec<VariationDecl>),
    /// `default NAME`
    Default(Ident),
    /// `enabled true|false`
    Enabled(bool),
    /// `when_disabled NAME`
    WhenDisabled(Ident),
    /// `salt "..."`
    Salt(StrLit),
    /// `target NAME ["key", ...]`
    Target {
        /// The variation served.
        variation: Ident,
        /// The context keys.
        keys: Vec<StrLit>,
    },
    /// `rule "name"? if COND => SERVE`
    Rule(RuleDecl),
    /// `rollout split ...`
    Rollout(Split),
}

/// A named JSON value of a flag's `variations` block.
#[derive(Debug, Clone, PartialEq)]
pub struct VariationDecl {
    /// The variation's name.
    pub name: Ident,
    /// Its JSON value.
    pub value: serde_json::Value,
    /// Where the value is written.
    pub value_span: Span,
}

/// `rule "name"? if COND => SERVE`
#[derive(Debug, Clone, PartialEq)]
pub struct RuleDecl {
    /// The optional name.
    pub name: Option<StrLit>,
    /// The condition.
    pub cond: Cond,
    /// What is served when it holds.
    pub serve: Serve,
}

/// What a rule serves.
#[derive(Debug, Clone, PartialEq)]
pub enum Serve {
    /// One variation.
    Variation(Ident),
    /// A percentage split.
    Split(Split),
}

/// `split (by ATTR)? { name: P%, ... }`
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    /// The bucketing attribute (`key` when absent).
    pub by: Option<Ident>,
    /// Variations and their weights, in order.
    pub arms: Vec<SplitArm>,
    /// The `split` keyword.
    pub span: Span,
}

/// `name: P%` inside a split.
#[derive(Debug, Clone, PartialEq)]
pub struct SplitArm {
    /// The variation.
    pub variation: Ident,
    /// Its weight in hundredths of a percent (`10%` is `1000`).
    pub weight: u32,
}

/// A condition, as written.
#[derive(Debug, Clone, PartialEq)]
pub enum Cond {
    /// `a or b or ...` (two or more).
    Or(Vec<Cond>),
    /// `a and b and ...` (two or more).
    And(Vec<Cond>),
    /// `not c`, with the span of `not`.
    Not(Box<Cond>, Span),
    /// `( c )`, with the span of `(`.
    Paren(Box<Cond>, Span),
    /// A single test.
    Atom(Atom),
}

/// A single test in a condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Atom {
    /// `segment NAME`
    Segment(Ident),
    /// `flag NAME is VARIATION`
    Prereq {
        /// The prerequisite flag.
        flag: Ident,
        /// The variation it must serve.
        variation: Ident,
    },
    /// `ATTR exists`
    Exists(Ident),
    /// `ATTR OP LITERAL`
    Compare {
        /// The attribute.
        attr: Ident,
        /// The operator.
        op: Op,
        /// Where the operator is written.
        op_span: Span,
        /// The literal.
        lit: Literal,
    },
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `in`
    In,
    /// `not in`
    NotIn,
    /// `contains`
    Contains,
    /// `starts_with`
    StartsWith,
    /// `ends_with`
    EndsWith,
    /// `matches`
    Matches,
}

impl Op {
    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "==",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::In => "in",
            Op::NotIn => "not in",
            Op::Contains => "contains",
            Op::StartsWith => "starts_with",
            Op::EndsWith => "ends_with",
            Op::Matches => "matches",
        }
    }
}

/// A literal on the right of an operator, with its span.
#[derive(Debug, Clone, PartialEq)]
pub struct Literal {
    /// The value.
    pub kind: LitKind,
    /// Where it is written.
    pub span: Span,
}

/// The value of a literal.
#[derive(Debug, Clone, PartialEq)]
pub enum LitKind {
    /// `"text"`
    Str(String),
    /// A number (its text is kept for error messages).
    Num(f64),
    /// `true` / `false`
    Bool(bool),
    /// `[a, b, ...]`
    List(Vec<Literal>),
    /// `semver("...")`, with the span of the string.
    Semver(String, Span),
    /// `date("...")`, with the span of the string.
    Date(String, Span),
}
