//! Subcommands of the `hub` binary that work on the store directly.

pub mod dlq;
