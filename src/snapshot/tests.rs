//! Tests of the snapshot stage.
