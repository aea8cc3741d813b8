//! A real OpenSSH `sshd` serving SFTP on loopback.
//!
//! Why the real daemon and not an SFTP library in the process: the SFTP
//! transport must prove itself against what OPS actually run — OpenSSH's
//! key exchange, host keys, `internal-sftp` and its refusal to rename onto
//! an existing file. The daemon runs as a child process with a temporary
//! configuration, its own freshly generated host key and a generated client
//! key pair, so nothing on the machine (`/etc/ssh`, `~/.ssh`) is read or
//! changed, apart from the optional password user (see
//! [`SshServer::password_login`]).
//!
//! The handle keeps port and keys across [`SshServer::stop`] /
//! [`SshServer::start_again`] (an OPS that goes down and comes back) and
//! can come back with a different host key
//! ([`SshServer::restart_with_new_host_key`]). The daemon is killed and
//! the temporary directory removed on drop.
//!
//! Requirements: `/usr/sbin/sshd` (or the daemon named by `HUB_TEST_SSHD`)
//! and `ssh-keygen` (Debian/Ubuntu: `apt-get install -y openssh-server`).

use std::fs;
use std::io::Read;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};

/// Where OpenSSH's daemon is unless `HUB_TEST_SSHD` names another path.
const SSHD: &str = "/usr/sbin/sshd";
/// How long the daemon may take to listen after being started.
const START_DEADLINE: Duration = Duration::from_secs(15);

/// The local account [`SshServer::password_login`] creates for password logins.
pub const PASSWORD_USER: &str = "hubsftp";
/// Its password (a test fixture, nothing else uses the account).
pub const PASSWORD_USER_PASSWORD: &str = "Sftp-测试-pass-1";

/// A running (or stopped) `sshd` on `127.0.0.1`.
pub struct SshServer {
    port: u16,
    /// Temporary directory: configuration, keys, pid file, log, data.
    directory: PathBuf,
    data_directory: PathBuf,
    user: String,
    host_key_sha256: String,
    client_private_key: String,
    client_private_key_path: PathBuf,
    child: Option<Child>,
}

impl SshServer {
    /// Generates keys, writes the configuration and starts `sshd` on a free
    /// port; returns once the port answers with an SSH banner.
    pub fn start() -> anyhow::Result<SshServer> {
        let sshd = sshd_path();
        if !sshd.is_file() {
            bail!(
                "{} is missing: the SFTP tests run a real OpenSSH server; \
                 install it with `apt-get install -y openssh-server`",
                sshd.display()
            );
        }
        let directory = std::env::temp_dir().join(format!("hub-sshd-{}", uuid::Uuid::now_v7().simple()));
        let data_directory = directory.join("data");
        fs::create_dir_all(&data_directory).with_context(|| format!("creating {}", data_directory.display()))?;
        let user = current_user()?;
        let client_private_key_path = directory.join("client_ed25519");
        generate_key(&client_private_key_path, "hub-e2e-client")?;
        fs::copy(
            client_private_key_path.with_extension("pub"),
            directory.join("authorized_keys"),
        )
        .context("writing authorized_keys")?;
        let client_private_key =
            fs::read_to_string(&client_private_key_path).context("reading the generated client key")?;
        let host_key_sha256 = generate_host_key(&directory)?;
        let mut server = SshServer {
            port: 0,
            directory,
            data_directory,
            user,
            host_key_sha256,
            client_private_key,
            client_private_key_path,
            child: None,
        };
        // Another process may take the free port between our probe and sshd's
        // bind: try a few ports.
        let mut last_error = None;
        for _ in 0..5 {
            server.port = free_port()?;
            match server.spawn() {
                Ok(()) => return Ok(server),
                Err(error) => last_error = Some(error),
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow!("sshd did not start")))
    }

    /// A server on a fixed port with given keys and data directory: the
    /// walkthrough's `ops-sim`, whose host key the example config pins.
    /// `host_key` and `client_key` are private key files with their `.pub`
    /// beside them; they are copied (sshd wants its key mode 0600).
    pub fn start_with_keys(
        port: u16,
        host_key: &Path,
        client_key: &Path,
        data_directory: &Path,
    ) -> anyhow::Result<SshServer> {
        let sshd = sshd_path();
        if !sshd.is_file() {
            bail!(
                "{} is missing: install it with `apt-get install -y openssh-server`",
                sshd.display()
            );
        }
        let directory = std::env::temp_dir().join(format!("hub-sshd-{}", uuid::Uuid::now_v7().simple()));
        fs::create_dir_all(&directory).with_context(|| format!("creating {}", directory.display()))?;
        fs::create_dir_all(data_directory).with_context(|| format!("creating {}", data_directory.display()))?;
        let host_copy = directory.join("host_ed25519");
        fs::copy(host_key, &host_copy).with_context(|| format!("copying {}", host_key.display()))?;
        fs::copy(host_key.with_extension("pub"), host_copy.with_extension("pub"))
            .with_context(|| format!("copying {}.pub", host_key.display()))?;
        use std::os::unix::fs::PermissionsExt as _;
        fs::set_permissions(&host_copy, fs::Permissions::from_mode(0o600)).context("chmod 600 the host key")?;
        fs::copy(client_key.with_extension("pub"), directory.join("authorized_keys"))
            .with_context(|| format!("copying {}.pub", client_key.display()))?;
        let mut server = SshServer {
            port,
            host_key_sha256: fingerprint(&host_copy.with_extension("pub"))?,
            client_private_key: fs::read_to_string(client_key)
                .with_context(|| format!("reading {}", client_key.display()))?,
            client_private_key_path: client_key.to_owned(),
            directory,
            data_directory: data_directory.to_owned(),
            user: current_user()?,
            child: None,
        };
        server.spawn()?;
        Ok(server)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The host key's fingerprint as `ssh-keygen -lf` prints it: `SHA256:…`.
    pub fn host_key_sha256(&self) -> &str {
        &self.host_key_sha256
    }

    /// The user the client key logs in as (the user running the tests).
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The client's private key (OpenSSH format, no passphrase).
    pub fn client_private_key(&self) -> &str {
        &self.client_private_key
    }

    pub fn client_private_key_path(&self) -> &Path {
        &self.client_private_key_path
    }

    /// A temporary directory, empty at start: use it as the target's root.
    pub fn data_directory(&self) -> &Path {
        &self.data_directory
    }

    /// The daemon's log (`sshd -e`), for a failing test's message.
    pub fn log(&self) -> String {
        fs::read_to_string(self.directory.join("sshd.log")).unwrap_or_default()
    }

    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|child| matches!(child.try_wait(), Ok(None)))
    }

    /// Kills the daemon and waits until the port refuses connections.
    pub fn stop(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            // The connections are served by sshd processes forked from the
            // listener (each in its own session): end them first, or an open
            // SFTP session would outlive "the server is down".
            kill_descendants(child.id());
            // `-D` keeps sshd in the foreground: this is the listener itself.
            let _ = child.kill();
            child.wait().context("waiting for sshd to exit")?;
        }
        let deadline = Instant::now() + START_DEADLINE;
        while TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)).is_ok() {
            if Instant::now() > deadline {
                bail!("port {} still accepts connections after sshd was killed", self.port);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    /// Starts the daemon again on the same port with the same keys.
    pub fn start_again(&mut self) -> anyhow::Result<()> {
        if self.is_running() {
            return Ok(());
        }
        self.spawn()
    }

    /// Stops the daemon, replaces its host key and starts it again on the
    /// same port; [`SshServer::host_key_sha256`] then gives the new key.
    pub fn restart_with_new_host_key(&mut self) -> anyhow::Result<()> {
        self.stop()?;
        let previous = self.host_key_sha256.clone();
        for extension in ["", "pub"] {
            let path = self.directory.join("host_ed25519").with_extension(extension);
            let _ = fs::remove_file(path);
        }
        self.host_key_sha256 = generate_host_key(&self.directory)?;
        if self.host_key_sha256 == previous {
            bail!("ssh-keygen generated the same host key twice");
        }
        self.spawn()
    }

    /// A local account with a password that this server accepts, for
    /// password logins: `(user, password)`. Creates [`PASSWORD_USER`] once
    /// (idempotent, safe when tests run in parallel) and gives it write
    /// access to the data directory. Needs root; the account has no home
    /// directory and `/usr/sbin/nologin`-free shell `/bin/sh` (sshd refuses
    /// users whose shell does not exist).
    pub fn password_login(&self) -> anyhow::Result<(String, String)> {
        if current_uid()? != 0 {
            bail!("creating the password test user `{PASSWORD_USER}` needs root");
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let exists = Command::new("id")
                .arg(PASSWORD_USER)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()?;
            if exists.success() {
                break;
            }
            // Parallel tests race for /etc/passwd's lock: retry until one created it.
            let created = Command::new("useradd")
                .args(["--no-create-home", "--shell", "/bin/sh", PASSWORD_USER])
                .output()
                .context("running useradd")?;
            if created.status.success() {
                break;
            }
            if Instant::now() > deadline {
                bail!(
                    "useradd {PASSWORD_USER} failed: {}",
                    String::from_utf8_lossy(&created.stderr).trim()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        loop {
            let mut chpasswd = Command::new("chpasswd")
                .stdin(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .context("running chpasswd")?;
            if let Some(mut stdin) = chpasswd.stdin.take() {
                use std::io::Write;
                writeln!(stdin, "{PASSWORD_USER}:{PASSWORD_USER_PASSWORD}")?;
            }
            let output = chpasswd.wait_with_output()?;
            if output.status.success() {
                break;
            }
            if Instant::now() > deadline {
                bail!("chpasswd failed: {}", String::from_utf8_lossy(&output.stderr).trim());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // The account writes into the (root-owned) data directory.
        let status = Command::new("chmod").arg("0777").arg(&self.data_directory).status()?;
        if !status.success() {
            bail!("chmod 0777 {} failed", self.data_directory.display());
        }
        Ok((PASSWORD_USER.to_owned(), PASSWORD_USER_PASSWORD.to_owned()))
    }

    fn spawn(&mut self) -> anyhow::Result<()> {
        if current_uid()? == 0 {
            // sshd run by root insists on its privilege-separation directory.
            fs::create_dir_all("/run/sshd").context("creating /run/sshd")?;
        }
        let config = self.directory.join("sshd_config");
        fs::write(&config, self.config()).context("writing sshd_config")?;
        let log = fs::File::create(self.directory.join("sshd.log")).context("creating sshd.log")?;
        let sshd = sshd_path();
        let child = Command::new(&sshd)
            .arg("-D")
            .arg("-e")
            .arg("-f")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", sshd.display()))?;
        self.child = Some(child);
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            if answers_with_ssh_banner(self.port) {
                return Ok(());
            }
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                self.child = None;
                bail!("sshd exited ({status}) on port {}: {}", self.port, self.log().trim());
            }
            if Instant::now() > deadline {
                let _ = self.stop();
                bail!(
                    "sshd did not listen on port {} within {START_DEADLINE:?}: {}",
                    self.port,
                    self.log().trim()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn config(&self) -> String {
        let directory = self.directory.display();
        format!(
            "Port {port}\n\
             ListenAddress 127.0.0.1\n\
             HostKey {directory}/host_ed25519\n\
             PidFile {directory}/sshd.pid\n\
             AuthorizedKeysFile {directory}/authorized_keys\n\
             UsePAM no\n\
             StrictModes no\n\
             PermitRootLogin yes\n\
             PubkeyAuthentication yes\n\
             PasswordAuthentication yes\n\
             KbdInteractiveAuthentication no\n\
             MaxStartups 100\n\
             Subsystem sftp internal-sftp\n\
             LogLevel VERBOSE\n",
            port = self.port,
        )
    }
}

impl Drop for SshServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            kill_descendants(child.id());
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = fs::remove_dir_all(&self.directory);
    }
}

/// The OpenSSH daemon to run: `HUB_TEST_SSHD`, else [`SSHD`].
fn sshd_path() -> PathBuf {
    std::env::var_os("HUB_TEST_SSHD")
        .filter(|path| !path.is_empty())
        .map_or_else(|| PathBuf::from(SSHD), PathBuf::from)
}

/// Sends SIGKILL to every descendant of process `root` (found through
/// `/proc`), deepest first.
fn kill_descendants(root: u32) {
    let mut parents: Vec<(u32, u32)> = Vec::new();
    if let Ok(entries) = fs::read_dir("/proc") {
        for entry in entries.filter_map(Result::ok) {
            let Some(pid) = entry.file_name().to_str().and_then(|name| name.parse::<u32>().ok()) else {
                continue;
            };
            // `pid (comm) state ppid …`; comm may contain spaces and parentheses.
            let Ok(stat) = fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            let parent = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|ppid| ppid.parse::<u32>().ok());
            if let Some(parent) = parent {
                parents.push((pid, parent));
            }
        }
    }
    let mut descendants = Vec::new();
    let mut frontier = vec![root];
    while let Some(parent) = frontier.pop() {
        for (pid, _) in parents.iter().filter(|(_, of)| *of == parent) {
            descendants.push(*pid);
            frontier.push(*pid);
        }
    }
    for pid in descendants.iter().rev() {
        let _ = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .stderr(Stdio::null())
            .status();
    }
}

/// Whether `127.0.0.1:port` accepts a connection and greets with `SSH-`.
fn answers_with_ssh_banner(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect((Ipv4Addr::LOCALHOST, port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut banner = [0u8; 4];
    stream.read_exact(&mut banner).is_ok() && &banner == b"SSH-"
}

/// A port nothing listens on right now.
pub(crate) fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("binding a probe port")?;
    Ok(listener.local_addr()?.port())
}

/// `ssh-keygen -t ed25519 -N ''` at `path` (and `path.pub`).
fn generate_key(path: &Path, comment: &str) -> anyhow::Result<()> {
    let output = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"])
        .arg(path)
        .stdin(Stdio::null())
        .output()
        .context("running ssh-keygen (install openssh-client)")?;
    if !output.status.success() {
        bail!("ssh-keygen failed: {}", String::from_utf8_lossy(&output.stderr).trim());
    }
    Ok(())
}

/// A new host key in `directory`; returns its `SHA256:` fingerprint as
/// `ssh-keygen -lf` prints it.
fn generate_host_key(directory: &Path) -> anyhow::Result<String> {
    let path = directory.join("host_ed25519");
    generate_key(&path, "hub-e2e-host")?;
    fingerprint(&path.with_extension("pub"))
}

/// A public key's `SHA256:` fingerprint as `ssh-keygen -lf` prints it.
fn fingerprint(public_key: &Path) -> anyhow::Result<String> {
    let output = Command::new("ssh-keygen")
        .arg("-lf")
        .arg(public_key)
        .output()
        .context("running ssh-keygen -lf")?;
    let printed = String::from_utf8_lossy(&output.stdout);
    // "256 SHA256:abc… comment (ED25519)"
    printed
        .split_whitespace()
        .find(|word| word.starts_with("SHA256:"))
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("unexpected `ssh-keygen -lf` output: {printed}"))
}

fn current_user() -> anyhow::Result<String> {
    let output = Command::new("id").arg("-un").output().context("running id -un")?;
    let user = String::from_utf8(output.stdout)?.trim().to_owned();
    if user.is_empty() {
        bail!("cannot tell the current user (id -un printed nothing)");
    }
    Ok(user)
}

fn current_uid() -> anyhow::Result<u32> {
    let output = Command::new("id").arg("-u").output().context("running id -u")?;
    Ok(String::from_utf8(output.stdout)?.trim().parse()?)
}
