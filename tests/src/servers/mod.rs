//! One module per kind of OPS server.

pub mod freight_rest;
pub mod ftp;
pub mod rabbitmq;
pub mod sshd;

pub use ftp::FtpServer;
pub use sshd::SshServer;
pub mod ops_http;
