//! A real FTP (and explicit FTPS) server inside the test process: libunftp
//! over a temporary directory.
//!
//! Why libunftp in the process rather than a system daemon: it speaks the
//! whole protocol (passive data connections, MLSD, `AUTH TLS`, `PROT P`)
//! over real sockets, needs nothing installed, and starts in milliseconds
//! on the caller's tokio runtime. One user with one password is accepted
//! (a small [`Authenticator`]) so a wrong password is really refused.
//!
//! Every server binds `127.0.0.1` on a free port with passive ports in a
//! high range, keeps its files in a temporary directory and stops on drop;
//! [`FtpServer::stop`] / [`FtpServer::start_again`] take it down and bring
//! it back on the same port (an OPS that goes down and comes back).
//! [`FtpServer::start_tls`] also generates a private CA and a certificate
//! for `127.0.0.1`/`localhost` (with the `openssl` command) so clients can
//! verify the server against [`FtpServer::ca_file`].

use std::fs;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use async_trait::async_trait;
use libunftp::ServerBuilder;
use libunftp::options::Shutdown;
use tokio::io::AsyncReadExt;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use unftp_core::auth::{AuthenticationError, Authenticator, Credentials, Principal};
use unftp_sbe_fs::Filesystem;

/// Passive data ports; random within the range, so parallel servers rarely meet.
const PASSIVE_PORTS: std::ops::RangeInclusive<u16> = 50_000..=59_999;
const START_DEADLINE: Duration = Duration::from_secs(10);

/// The user the server accepts.
pub const FTP_USER: &str = "hub";
/// Its password (non-ASCII on purpose).
pub const FTP_PASSWORD: &str = "ftp-密码-1";

/// Accepts exactly one user name with one password.
#[derive(Debug)]
struct OneUser {
    user: String,
    password: String,
}

#[async_trait]
impl Authenticator for OneUser {
    async fn authenticate(&self, username: &str, credentials: &Credentials) -> Result<Principal, AuthenticationError> {
        if username != self.user {
            return Err(AuthenticationError::BadUser);
        }
        if credentials.password.as_deref() != Some(self.password.as_str()) {
            return Err(AuthenticationError::BadPassword);
        }
        Ok(Principal {
            username: username.to_owned(),
        })
    }
}

/// Certificate files of an FTPS server.
struct TlsFiles {
    ca_file: PathBuf,
    certificate_chain: PathBuf,
    private_key: PathBuf,
}

/// A running (or stopped) FTP server.
pub struct FtpServer {
    port: u16,
    directory: PathBuf,
    data_directory: PathBuf,
    tls: Option<TlsFiles>,
    running: Option<Running>,
}

struct Running {
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), libunftp::ServerError>>,
}

impl FtpServer {
    /// Plain FTP on a free port; returns once it greets.
    pub async fn start() -> anyhow::Result<FtpServer> {
        FtpServer::start_with(false).await
    }

    /// Explicit FTPS (`AUTH TLS`, optional for clients) with a certificate
    /// for `127.0.0.1` and `localhost` signed by a fresh private CA.
    pub async fn start_tls() -> anyhow::Result<FtpServer> {
        FtpServer::start_with(true).await
    }

    /// Plain FTP on a fixed port serving `data_directory` (the walkthrough's
    /// `ops-sim`); user [`FTP_USER`], password [`FTP_PASSWORD`].
    pub async fn start_at(port: u16, data_directory: &Path) -> anyhow::Result<FtpServer> {
        let directory = std::env::temp_dir().join(format!("hub-ftp-{}", uuid::Uuid::now_v7().simple()));
        fs::create_dir_all(data_directory).with_context(|| format!("creating {}", data_directory.display()))?;
        let mut server = FtpServer {
            port,
            directory,
            data_directory: data_directory.to_owned(),
            tls: None,
            running: None,
        };
        server.serve().await?;
        Ok(server)
    }

    async fn start_with(tls: bool) -> anyhow::Result<FtpServer> {
        let directory = std::env::temp_dir().join(format!("hub-ftp-{}", uuid::Uuid::now_v7().simple()));
        let data_directory = directory.join("data");
        fs::create_dir_all(&data_directory).with_context(|| format!("creating {}", data_directory.display()))?;
        let tls = if tls {
            Some(generate_certificates(&directory)?)
        } else {
            None
        };
        let mut server = FtpServer {
            port: 0,
            directory,
            data_directory,
            tls,
            running: None,
        };
        let mut last_error = None;
        for _ in 0..5 {
            server.port = super::sshd::free_port()?;
            match server.serve().await {
                Ok(()) => return Ok(server),
                Err(error) => last_error = Some(error),
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow!("the FTP server did not start")))
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn user(&self) -> &str {
        FTP_USER
    }

    pub fn password(&self) -> &str {
        FTP_PASSWORD
    }

    /// The directory the server serves as `/`.
    pub fn data_directory(&self) -> &Path {
        &self.data_directory
    }

    /// FTPS only: the PEM file of the CA that signed the server's certificate.
    pub fn ca_file(&self) -> Option<&Path> {
        self.tls.as_ref().map(|tls| tls.ca_file.as_path())
    }

    /// Shuts the server down (open sessions are closed) and waits until
    /// the port refuses connections.
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        if let Some(running) = self.running.take() {
            let _ = running.stop.send(());
            let _ = tokio::time::timeout(START_DEADLINE, running.task).await;
        }
        let deadline = Instant::now() + START_DEADLINE;
        while tokio::net::TcpStream::connect((Ipv4Addr::LOCALHOST, self.port))
            .await
            .is_ok()
        {
            if Instant::now() > deadline {
                bail!(
                    "port {} still accepts connections after the FTP server stopped",
                    self.port
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    }

    /// Serves again on the same port, same user, same files.
    pub async fn start_again(&mut self) -> anyhow::Result<()> {
        if self.running.is_some() {
            return Ok(());
        }
        self.serve().await
    }

    async fn serve(&mut self) -> anyhow::Result<()> {
        let root = self.data_directory.clone();
        // Checked here so the per-session factory below cannot fail.
        Filesystem::new(root.clone()).with_context(|| format!("serving {}", root.display()))?;
        let authenticator = Arc::new(OneUser {
            user: FTP_USER.to_owned(),
            password: FTP_PASSWORD.to_owned(),
        });
        let (stop, stopped) = oneshot::channel::<()>();
        let mut builder = ServerBuilder::with_authenticator(Box::new(move || filesystem_at(&root)), authenticator)
            .greeting("hub-e2e FTP server ready")
            .passive_host(libunftp::options::PassiveHost::Ip(Ipv4Addr::LOCALHOST))
            .passive_ports(PASSIVE_PORTS)
            .shutdown_indicator(async move {
                let _ = stopped.await;
                Shutdown::new().grace_period(Duration::from_millis(200))
            });
        if let Some(tls) = &self.tls {
            builder = builder.ftps(tls.certificate_chain.clone(), tls.private_key.clone());
        }
        let server = builder
            .build()
            .map_err(|error| anyhow!("building the FTP server: {error}"))?;
        let address = format!("127.0.0.1:{}", self.port);
        let task = tokio::spawn(server.listen(address));
        self.running = Some(Running { stop, task });
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            if greets(self.port).await {
                return Ok(());
            }
            if self.running.as_ref().is_some_and(|running| running.task.is_finished()) {
                let finished = self.running.take().map(|running| running.task);
                let reason = match finished {
                    Some(task) => match task.await {
                        Ok(Err(error)) => error.to_string(),
                        Ok(Ok(())) => "it returned".to_owned(),
                        Err(error) => error.to_string(),
                    },
                    None => "unknown".to_owned(),
                };
                bail!("the FTP server on port {} stopped at once: {reason}", self.port);
            }
            if Instant::now() > deadline {
                let _ = self.stop().await;
                bail!(
                    "the FTP server did not listen on port {} within {START_DEADLINE:?}",
                    self.port
                );
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Drop for FtpServer {
    fn drop(&mut self) {
        if let Some(running) = self.running.take() {
            let _ = running.stop.send(());
            running.task.abort();
        }
        let _ = fs::remove_dir_all(&self.directory);
    }
}

/// The storage of one session. The root was opened once in
/// [`FtpServer::serve`]; opening it again only fails if it was deleted
/// meanwhile, and then the server cannot serve anything anyway.
#[allow(clippy::expect_used)]
fn filesystem_at(root: &Path) -> Filesystem {
    Filesystem::new(root).expect("the FTP server's data directory disappeared")
}

/// Whether `127.0.0.1:port` accepts a connection and greets with `220`.
async fn greets(port: u16) -> bool {
    let Ok(mut stream) = tokio::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port)).await else {
        return false;
    };
    let mut greeting = [0u8; 3];
    matches!(
        tokio::time::timeout(Duration::from_secs(2), stream.read_exact(&mut greeting)).await,
        Ok(Ok(_))
    ) && &greeting == b"220"
}

/// A private CA and a server certificate for `127.0.0.1` / `localhost`.
fn generate_certificates(directory: &Path) -> anyhow::Result<TlsFiles> {
    let files = TlsFiles {
        ca_file: directory.join("ca.pem"),
        certificate_chain: directory.join("server-chain.pem"),
        private_key: directory.join("server.key"),
    };
    let ca_key = directory.join("ca.key");
    let request = directory.join("server.csr");
    let certificate = directory.join("server.pem");
    let extensions = directory.join("server.ext");
    fs::write(
        &extensions,
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n\
         basicConstraints=critical,CA:FALSE\n\
         keyUsage=critical,digitalSignature,keyEncipherment\n\
         extendedKeyUsage=serverAuth\n",
    )?;
    let path = |path: &Path| path.display().to_string();
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=hub-e2e test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
        "-keyout",
        &path(&ca_key),
        "-out",
        &path(&files.ca_file),
    ])?;
    openssl(&[
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-subj",
        "/CN=localhost",
        "-keyout",
        &path(&files.private_key),
        "-out",
        &path(&request),
    ])?;
    openssl(&[
        "x509",
        "-req",
        "-in",
        &path(&request),
        "-CA",
        &path(&files.ca_file),
        "-CAkey",
        &path(&ca_key),
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        &path(&extensions),
        "-out",
        &path(&certificate),
    ])?;
    let chain = fs::read_to_string(&certificate)? + &fs::read_to_string(&files.ca_file)?;
    fs::write(&files.certificate_chain, chain)?;
    Ok(files)
}

fn openssl(arguments: &[&str]) -> anyhow::Result<()> {
    let output = Command::new("openssl")
        .args(arguments)
        .stdin(Stdio::null())
        .output()
        .context("running openssl (install the openssl package)")?;
    if !output.status.success() {
        bail!(
            "openssl {} failed: {}",
            arguments.first().copied().unwrap_or_default(),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}
