//! One module per kind of OPS server.

pub mod ftp;
pub mod sshd;
