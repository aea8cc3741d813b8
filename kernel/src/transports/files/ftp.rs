//! FTP and explicit FTPS sessions (suppaftp's blocking stream, passive mode).
//!
//! Why passive mode: the hub opens every connection itself, so it works
//! from behind NAT and container networks where an OPS could never connect
//! back for an active-mode data channel. The server's passive address is
//! replaced by the control connection's peer (NAT workaround) because
//! servers behind NAT often announce their private address.
//!
//! Why binary transfers: the default ASCII type rewrites line endings, and a
//! file the plugin built must reach the OPS byte for byte (UTF-8 included).
//!
//! FTPS is explicit (`AUTH TLS` on the normal port, then `PROT P` so the data
//! channel is encrypted too). The server's certificate is verified against
//! the system's CA bundle plus the target's `ca_file`; there is no switch to
//! turn verification off.

use std::io::Cursor;
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use suppaftp::list::ListParser;
use suppaftp::rustls::pki_types::CertificateDer;
use suppaftp::rustls::pki_types::pem::PemObject;
use suppaftp::rustls::{self, ClientConfig, RootCertStore};
use suppaftp::types::FileType;
use suppaftp::{FtpError, FtpStream, ImplFtpStream, Mode, RustlsConnector, RustlsFtpStream, TlsStream};

use super::FilesSetupError;
use super::pool::{Connector, FileSession, connect_tcp, io_failure, resolve};
use crate::secret::Secret;
use crate::transports::{FileEntry, TransportError};

/// How to reach and log in to one FTP(S) server.
pub(super) struct FtpConnector {
    pub(super) host: String,
    pub(super) port: u16,
    pub(super) username: String,
    pub(super) password: Secret,
    pub(super) timeout: Duration,
    /// `None`: plain FTP; `Some`: explicit FTPS with this TLS configuration.
    pub(super) tls: Option<Arc<ClientConfig>>,
    pub(super) endpoint: String,
}

/// A logged-in control connection; the two variants only differ in the
/// stream type, every operation is the same generic function.
pub(super) enum FtpSession {
    Plain {
        stream: FtpStream,
        endpoint: String,
        mlsd: bool,
    },
    Secure {
        stream: RustlsFtpStream,
        endpoint: String,
        mlsd: bool,
    },
}

/// Calls the generic operation `$function` with the session's stream.
macro_rules! on_stream {
    ($session:expr, $function:ident ( $($argument:expr),* )) => {
        match $session {
            FtpSession::Plain { stream, endpoint, mlsd } => $function(stream, endpoint, *mlsd, $($argument),*),
            FtpSession::Secure { stream, endpoint, mlsd } => $function(stream, endpoint, *mlsd, $($argument),*),
        }
    };
}

impl Connector for FtpConnector {
    type Session = FtpSession;

    fn connect(&self) -> Result<FtpSession, TransportError> {
        let address = resolve(&self.host, self.port, &self.endpoint)?;
        let control = connect_tcp(address, self.timeout, &self.endpoint)?;
        let endpoint = self.endpoint.clone();
        match &self.tls {
            None => {
                let stream = FtpStream::connect_with_stream(control)
                    .map_err(|error| ftp_failure(&format!("connect to {endpoint}"), error))?;
                let mut stream = prepare(stream, self.timeout);
                let mlsd = self.log_in(&mut stream)?;
                Ok(FtpSession::Plain { stream, endpoint, mlsd })
            }
            Some(tls) => {
                let stream = RustlsFtpStream::connect_with_stream(control)
                    .map_err(|error| ftp_failure(&format!("connect to {endpoint}"), error))?;
                let stream = prepare(stream, self.timeout)
                    .into_secure(RustlsConnector::from(Arc::clone(tls)), &self.host)
                    .map_err(|error| ftp_failure(&format!("TLS (AUTH TLS) with {endpoint}"), error))?;
                let mut stream = stream;
                let mlsd = self.log_in(&mut stream)?;
                Ok(FtpSession::Secure { stream, endpoint, mlsd })
            }
        }
    }
}

impl FtpConnector {
    /// Logs in, selects binary transfers and learns whether `MLSD` works.
    fn log_in<T: TlsStream>(&self, stream: &mut ImplFtpStream<T>) -> Result<bool, TransportError> {
        let endpoint = &self.endpoint;
        stream
            .login(self.username.as_str(), self.password.expose())
            .map_err(|error| match error {
                FtpError::UnexpectedResponse(response) if matches!(response.status.code(), 530 | 430 | 331 | 332) => {
                    TransportError::Unauthorized(format!(
                        "{endpoint}: the server refused the login of user `{}` ({} {})",
                        self.username,
                        response.status.code(),
                        reply_text(&response.body)
                    ))
                }
                other => ftp_failure(&format!("log in to {endpoint}"), other),
            })?;
        stream
            .transfer_type(FileType::Binary)
            .map_err(|error| ftp_failure(&format!("TYPE I on {endpoint}"), error))?;
        // FEAT is optional (RFC 2389): a server without it has neither MLSD nor UTF8.
        let features = stream.feat().unwrap_or_default();
        let has = |name: &str| features.keys().any(|key| key.trim().eq_ignore_ascii_case(name));
        if has("UTF8") {
            // Some servers only send and accept UTF-8 names once asked.
            let _ = stream.opts("UTF8", Some("ON"));
        }
        Ok(has("MLSD"))
    }
}

/// Passive mode with the NAT workaround, data connections bounded by the
/// target's timeout like the control connection.
fn prepare<T: TlsStream>(stream: ImplFtpStream<T>, timeout: Duration) -> ImplFtpStream<T> {
    let mut stream = stream.passive_stream_builder(move |address: SocketAddr| {
        let data = TcpStream::connect_timeout(&address, timeout).map_err(FtpError::ConnectionError)?;
        data.set_read_timeout(Some(timeout))
            .map_err(FtpError::ConnectionError)?;
        data.set_write_timeout(Some(timeout))
            .map_err(FtpError::ConnectionError)?;
        Ok(data)
    });
    stream.set_mode(Mode::Passive);
    stream.set_passive_nat_workaround(true);
    stream
}

impl FileSession for FtpSession {
    fn write(&mut self, path: &str, contents: &[u8]) -> Result<(), TransportError> {
        on_stream!(self, write_file(path, contents))
    }

    fn read(&mut self, path: &str) -> Result<Vec<u8>, TransportError> {
        on_stream!(self, read_file(path))
    }

    fn list(&mut self, directory: &str) -> Result<Vec<FileEntry>, TransportError> {
        on_stream!(self, list_files(directory))
    }

    fn rename(&mut self, from: &str, to: &str) -> Result<(), TransportError> {
        on_stream!(self, rename_file(from, to))
    }

    fn remove(&mut self, path: &str) -> Result<(), TransportError> {
        on_stream!(self, remove_file(path))
    }

    fn make_dir(&mut self, path: &str) -> Result<(), TransportError> {
        on_stream!(self, make_directory(path))
    }
}

fn write_file<T: TlsStream>(
    stream: &mut ImplFtpStream<T>,
    endpoint: &str,
    _mlsd: bool,
    path: &str,
    contents: &[u8],
) -> Result<(), TransportError> {
    stream
        .put_file(path, &mut Cursor::new(contents))
        .map(|_| ())
        .map_err(|error| ftp_failure(&format!("put {endpoint}{}", slash(path)), error))
}

fn read_file<T: TlsStream>(
    stream: &mut ImplFtpStream<T>,
    endpoint: &str,
    _mlsd: bool,
    path: &str,
) -> Result<Vec<u8>, TransportError> {
    stream
        .retr_as_buffer(path)
        .map(Cursor::into_inner)
        .map_err(|error| ftp_failure(&format!("get {endpoint}{}", slash(path)), error))
}

fn list_files<T: TlsStream>(
    stream: &mut ImplFtpStream<T>,
    endpoint: &str,
    mlsd: bool,
    directory: &str,
) -> Result<Vec<FileEntry>, TransportError> {
    let context = format!("list {endpoint}{}", slash(directory));
    let lines = if mlsd {
        stream.mlsd(Some(directory))
    } else {
        stream.list(Some(directory))
    }
    .map_err(|error| ftp_failure(&context, error))?;
    let mut entries = Vec::new();
    for line in lines
        .iter()
        .map(|line| line.trim_end_matches(['\r', '\n']))
        .filter(|line| !line.is_empty())
    {
        let parsed = if mlsd {
            ListParser::parse_mlsd(line)
        } else {
            ListParser::parse_posix(line).or_else(|_| ListParser::parse_dos(line))
        };
        // A `total 12` header line of LIST is not an entry.
        let Ok(file) = parsed else {
            if mlsd || !line.starts_with("total ") {
                tracing::debug!(%context, line, "unparsed directory listing line skipped");
            }
            continue;
        };
        let name = file.name().rsplit('/').next().unwrap_or_default();
        if !file.is_file() || name.is_empty() || name == "." || name == ".." {
            continue;
        }
        let modified = file
            .modified()
            .duration_since(SystemTime::UNIX_EPOCH)
            .ok()
            .filter(|since| !since.is_zero())
            .and_then(|since| i64::try_from(since.as_secs()).ok());
        entries.push(FileEntry {
            name: name.to_owned(),
            size: u64::try_from(file.size()).unwrap_or(u64::MAX),
            modified,
        });
    }
    Ok(entries)
}

fn rename_file<T: TlsStream>(
    stream: &mut ImplFtpStream<T>,
    endpoint: &str,
    _mlsd: bool,
    from: &str,
    to: &str,
) -> Result<(), TransportError> {
    stream
        .rename(from, to)
        .map_err(|error| ftp_failure(&format!("rename {endpoint}{} to {to}", slash(from)), error))
}

fn remove_file<T: TlsStream>(
    stream: &mut ImplFtpStream<T>,
    endpoint: &str,
    _mlsd: bool,
    path: &str,
) -> Result<(), TransportError> {
    stream
        .rm(path)
        .map_err(|error| ftp_failure(&format!("remove {endpoint}{}", slash(path)), error))
}

fn make_directory<T: TlsStream>(
    stream: &mut ImplFtpStream<T>,
    endpoint: &str,
    _mlsd: bool,
    path: &str,
) -> Result<(), TransportError> {
    stream
        .mkdir(path)
        .map_err(|error| ftp_failure(&format!("make directory {endpoint}{}", slash(path)), error))
}

/// `endpoint` + `/path` without doubling the slash.
fn slash(path: &str) -> String {
    if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("/{path}")
    }
}

/// The server's reply text, one line, at most 200 characters.
fn reply_text(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim().replace(['\r', '\n'], " ");
    match text.char_indices().nth(200) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

/// An FTP failure as a [`TransportError`]; `context` says what and where.
fn ftp_failure(context: &str, error: FtpError) -> TransportError {
    match error {
        FtpError::ConnectionError(io) => tls_failure(context, &io).unwrap_or_else(|| io_failure(context, &io)),
        FtpError::UnexpectedResponse(response) => {
            let code = response.status.code();
            let message = format!("{context}: {code} {}", reply_text(&response.body));
            match code {
                550 => TransportError::NotFound(message),
                421 | 425 | 426 | 450 | 451 | 452 | 552 => TransportError::Unavailable {
                    message,
                    retry_after_ms: None,
                },
                530 | 430 | 532 => TransportError::Unauthorized(message),
                _ => TransportError::ProtocolError(message),
            }
        }
        FtpError::SecureError(reason) => TransportError::ProtocolError(format!("{context}: TLS: {reason}")),
        FtpError::BadResponse => TransportError::ProtocolError(format!("{context}: the server's reply is garbled")),
        FtpError::InvalidAddress(error) => TransportError::ProtocolError(format!(
            "{context}: the server sent an invalid passive address: {error}"
        )),
        FtpError::DataConnectionAlreadyOpen => {
            TransportError::ProtocolError(format!("{context}: a data connection is still open"))
        }
    }
}

/// A TLS failure inside an I/O error: an untrusted certificate is the
/// server failing to prove who it is, like a wrong SSH host key.
fn tls_failure(context: &str, error: &std::io::Error) -> Option<TransportError> {
    let tls = error.get_ref()?.downcast_ref::<rustls::Error>()?;
    Some(match tls {
        rustls::Error::InvalidCertificate(reason) => TransportError::Unauthorized(format!(
            "{context}: the server's TLS certificate is not trusted: {reason:?}"
        )),
        other => TransportError::ProtocolError(format!("{context}: TLS: {other}")),
    })
}

/// Where Linux distributions keep the system's CA bundle.
const SYSTEM_CA_BUNDLES: [&str; 4] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// The TLS client configuration of an FTPS target: system CAs (the bundle
/// named by `SSL_CERT_FILE`, else the distribution's) plus `ca_file`.
pub(super) fn tls_config(ca_file: Option<&Path>) -> Result<Arc<ClientConfig>, FilesSetupError> {
    let mut roots = RootCertStore::empty();
    let system_bundle = std::env::var_os("SSL_CERT_FILE")
        .map(std::path::PathBuf::from)
        .into_iter()
        .chain(SYSTEM_CA_BUNDLES.iter().map(std::path::PathBuf::from))
        .find(|path| path.is_file());
    if let Some(bundle) = system_bundle
        && let Ok(certificates) = CertificateDer::pem_file_iter(&bundle)
    {
        roots.add_parsable_certificates(certificates.filter_map(Result::ok));
    }
    if let Some(ca_file) = ca_file {
        let unreadable = |reason: String| FilesSetupError::Invalid(format!("ca_file {}: {reason}", ca_file.display()));
        let certificates = CertificateDer::pem_file_iter(ca_file).map_err(|error| unreadable(error.to_string()))?;
        let mut added = 0;
        for certificate in certificates {
            let certificate = certificate.map_err(|error| unreadable(error.to_string()))?;
            roots
                .add(certificate)
                .map_err(|error| unreadable(format!("not a usable CA certificate: {error}")))?;
            added += 1;
        }
        if added == 0 {
            return Err(unreadable("no PEM certificate in the file".to_owned()));
        }
    }
    if roots.is_empty() {
        return Err(FilesSetupError::Invalid(
            "FTPS: no CA certificates (no system CA bundle found and no ca_file)".to_owned(),
        ));
    }
    let config = ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|error| FilesSetupError::Invalid(format!("FTPS: TLS set-up: {error}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}
