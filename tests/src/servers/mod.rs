//! One module per kind of OPS server.

pub mod ftp;
pub mod sshd;
pub mod ops_http;
