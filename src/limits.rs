//! Every hard limit of vexil, in one place: one constant per limit.
//!
//! Two kinds of bound keep hostile input from crashing a process or from
//! producing a snapshot that its readers refuse:
//!
//! - **Complexity caps** ([`crate::check::Limits`]): defaults of SPEC §1 that
//!   bound the work of one evaluation. The compiler takes overrides, but never
//!   above the ceilings below ([`crate::check::Limits::validate`]).
//! - **Ceilings** (the constants here): fixed. They bound recursion (so no
//!   input can overflow the stack) and they are the same numbers on both
//!   sides of the wire: the checker refuses what the snapshot loader would
//!   refuse, so a snapshot that `compile` wrote always loads.
//!
//! | limit | value | enforced by |
//! |---|---|---|
//! | [`MAX_VALUE_NESTING`] | 128 | lexer (variation values), context parser, snapshot loader, patch reader |
//! | [`MAX_CONDITION_NESTING`] | 64 | lexer (parentheses, `not`s and lists in one condition) |
//! | [`MAX_SYNTAX_NESTING`] | 256 | lexer (any brackets, anywhere) |
//! | [`MAX_REFERENCE_DEPTH`] | 64 | checker (segments and prerequisites, combined), both evaluators |
//! | [`REGEX_SIZE_LIMIT`] | 4 MiB | checker (ceiling of `--max-regex-size`), snapshot loader, patch reader |
//! | [`MAX_ATTRIBUTE_SYMBOLS`] | 65,536 | the process-wide table of attribute names (a speed limit, not an error) |
//!
//! docs/language.md §15 is the user's version of this table.

/// Deepest nesting of a JSON value: a variation value, a context, a value
/// read from a snapshot or a patch. A scalar has depth 0; an array or object
/// is one deeper than its deepest element, so `[[1]]` has depth 2 and a
/// context `{"a": [1]}` depth 2 as well.
pub const MAX_VALUE_NESTING: usize = 128;

/// Deepest nesting inside one condition, counting each `(`, each `not` and
/// each list bracket. The parenthesis-depth cap (`condition_depth`, 8 by
/// default) may be raised up to this, never beyond.
pub const MAX_CONDITION_NESTING: usize = 64;

/// Deepest nesting of brackets of any kind anywhere in a source file. Rule
/// files nest a few levels; this bounds what no grammar rule admits anyway.
pub const MAX_SYNTAX_NESTING: usize = 256;

/// Longest chain of references one evaluation follows through segments and
/// prerequisites together (a flag's own evaluation is depth 0, each
/// `segment S` or `flag F is V` one more). The checker refuses deeper chains,
/// so the evaluators' guard at this depth never changes an answer; it only
/// protects the stack against hand-made rulesets. The caps on segment nesting
/// and prerequisite chains (`reference_depth`, 4 by default) may be raised up
/// to this.
pub const MAX_REFERENCE_DEPTH: usize = 64;

/// The regex crate's `size_limit` with which the snapshot loader and the
/// patch reader compile regexes, and the ceiling of the compiler's regex cap
/// (`regex_size`, 1 MiB by default). Since the compiler never accepts more
/// than this, every regex it accepted loads (with the same `regex` version;
/// the default cap leaves a factor of four for another version's sizing).
pub const REGEX_SIZE_LIMIT: usize = 4 << 20;

/// The default compiled-size cap on one regex (SPEC §1: 1 MiB).
pub const DEFAULT_REGEX_SIZE: usize = 1 << 20;

/// Most distinct attribute names the process-wide symbol table holds
/// (contexts and rulesets intern their attribute names there, so a lookup
/// during evaluation compares integers). Names beyond it still work, found
/// by comparing text; the table only stops growing, so a stream of contexts
/// with made-up attribute names cannot take memory without bound.
pub const MAX_ATTRIBUTE_SYMBOLS: usize = 1 << 16;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceilings_admit_the_default_caps() {
        let d = crate::check::Limits::default();
        assert!(d.validate().is_ok());
        const { assert!(DEFAULT_REGEX_SIZE <= REGEX_SIZE_LIMIT) };
        const { assert!(MAX_CONDITION_NESTING <= MAX_SYNTAX_NESTING) };
        // A variation value sits two brackets deep (`flag {`, `variations {`).
        const { assert!(MAX_VALUE_NESTING + 2 <= MAX_SYNTAX_NESTING) };
    }
}
