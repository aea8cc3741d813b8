//! Real servers on loopback for the end-to-end tests (`tests/tests/`) and
//! for `ops-sim`, the example OPS landscape of the walkthrough: the same
//! code starts what the tests prove against and what a new user tries.
//!
//! Every server binds `127.0.0.1` on a free port, keeps its files in a
//! temporary directory and stops when its handle is dropped.

// Test support: a harness step that fails is a failed test, and the panic
// message (with the server's output) is the report.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

pub mod hub;
pub mod servers;
