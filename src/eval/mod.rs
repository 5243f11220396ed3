//! Evaluation over the compiled decision tables.
