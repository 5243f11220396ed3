//! Checked program → flat decision tables.
