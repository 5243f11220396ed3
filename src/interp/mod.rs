//! The reference interpreter: walks the checked [`Program`] directly.
//!
//! Written to be obviously correct, not fast: it is the definition of SPEC §2
//! that the compiled evaluator (`crate::eval`) is tested against.

use crate::check::Program;
use crate::context::Context;
use crate::detail::Detail;

/// Evaluates flag `key` for `context`.
pub fn evaluate<'p>(program: &'p Program, key: &str, context: &Context) -> Detail<'p> {
    let _ = (program, key, context);
    todo!("interpreter")
}
