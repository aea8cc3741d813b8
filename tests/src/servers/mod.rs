//! One module per kind of OPS server.

pub mod freight_rest;
pub mod ftp;
pub mod sshd;
pub mod rabbitmq;

pub use ftp::FtpServer;
pub use sshd::SshServer;
pub mod ops_http;
