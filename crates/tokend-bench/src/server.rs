//! The server under test: either a tokend the bench builds and starts (fresh data directory,
//! settings through `TOKEND_*` variables, pinned with taskset, a fresh PostgreSQL database when
//! asked), or one already running at `--target`.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use hyper::Method;

use crate::cli::{Args, Db};
use crate::client::{request, Client};

/// Settings the bench gives every server it starts, on top of the database, keys and listener.
/// Sign-in budgets are raised out of the way (not turned off, so the limiter still runs), and
/// loopback is a trusted proxy so `X-Forwarded-For` spreads sign-ins over many addresses.
const BENCH_SETTINGS: &[(&str, &str)] = &[
    ("TOKEND_SIGN_IN_PER_IP_PER_MINUTE", "1000000"),
    ("TOKEND_SIGN_IN_PER_LOGIN_PER_MINUTE", "1000000"),
    ("TOKEND_TRUSTED_PROXIES", "127.0.0.1"),
    ("TOKEND_SHUTDOWN_GRACE_SECONDS", "2"),
];

/// A server to send load to.
pub struct Server {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its pid, when known: CPU time and memory are read from /proc.
    pub pid: Option<u32>,
    /// An admin key for provisioning.
    pub admin_key: String,
    /// Resource-server credentials for `/v1/introspect`, when there are any.
    pub introspect: Option<(String, String)>,
    /// TOKEND_MAX_CONCURRENT_HASHES, as far as the bench knows.
    pub hash_permits: usize,
    /// The PostgreSQL database name, to find its backends.
    pub pg_database: Option<String>,
    child: Option<tokio::process::Child>,
    data_dir: Option<tempfile::TempDir>,
    pg_admin_url: Option<String>,
}

/// The workspace root (two levels above this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The tokend binary to start: `--tokend-bin`, else `target/release/tokend`, built first
/// unless `--no-build`.
pub fn tokend_binary(args: &Args) -> anyhow::Result<PathBuf> {
    if let Some(bin) = &args.tokend_bin {
        return Ok(bin.clone());
    }
    let root = workspace_root();
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let bin = target.join("release").join("tokend");
    if !args.no_build {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        eprintln!("building: cargo build --release -p tokend --bin tokend");
        let status = std::process::Command::new(cargo)
            .args(["build", "--release", "-p", "tokend", "--bin", "tokend"])
            .current_dir(&root)
            .status()
            .context("running cargo build")?;
        if !status.success() {
            bail!("cargo build --release -p tokend failed; fix the build or pass --no-build to use {}", bin.display());
        }
    }
    if !bin.exists() {
        bail!(
            "{} does not exist: run `cargo build --release -p tokend` (or drop --no-build)",
            bin.display()
        );
    }
    Ok(bin)
}

impl Server {
    /// The server of `--target`: nothing is started; credentials come from the options.
    pub fn external(args: &Args, url: &str) -> anyhow::Result<Self> {
        let hostport = url
            .trim_end_matches('/')
            .strip_prefix("http://")
            .ok_or_else(|| anyhow!("--target must be http://HOST:PORT (no TLS)"))?;
        let addr = hostport
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| anyhow!("cannot resolve {hostport}"))?;
        let admin_key = args
            .admin_key
            .clone()
            .ok_or_else(|| anyhow!("--target needs --admin-key (or BENCH_ADMIN_KEY)"))?;
        let introspect = args
            .introspect_client_id
            .clone()
            .zip(args.introspect_client_secret.clone());
        Ok(Self {
            addr,
            pid: args.server_pid,
            admin_key,
            introspect,
            hash_permits: args.hash_permits.unwrap_or(2),
            pg_database: None,
            child: None,
            data_dir: None,
            pg_admin_url: None,
        })
    }

    /// Starts a fresh tokend on a free loopback port and waits until `/healthz` answers.
    pub async fn start(args: &Args, bin: &Path, db: Db) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new().prefix("tokend-bench-").tempdir()?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let server_cpus = crate::cli::parse_cpus(&args.server_cpu)?;
        let cpu_count = server_cpus.as_ref().map_or_else(
            || std::thread::available_parallelism().map_or(1, |n| n.get()),
            Vec::len,
        );
        let hash_permits = args.hash_permits.unwrap_or(2 * cpu_count);

        let (database_url, pg_database, pg_admin_url) = match db {
            Db::Sqlite => (
                format!("sqlite://{}/tokend.db", dir.path().display()),
                None,
                None,
            ),
            Db::Postgres => {
                let base = args.pg_url.trim_end_matches('/').to_string();
                let name = format!("tokend_bench_{:08x}", rand::random::<u32>());
                let admin_url = format!("{base}/postgres");
                psql(&admin_url, &format!("CREATE DATABASE {name}")).await?;
                (format!("{base}/{name}"), Some(name), Some(admin_url))
            }
        };
        let mut env: Vec<(String, String)> = vec![
            ("TOKEND_DATABASE_URL".into(), database_url),
            ("TOKEND_LISTEN".into(), addr.to_string()),
            (
                "TOKEND_KEYS_DIR".into(),
                dir.path().join("keys").display().to_string(),
            ),
            (
                "TOKEND_CONFIG".into(),
                dir.path().join("tokend.toml").display().to_string(),
            ),
            (
                "TOKEND_MAX_CONCURRENT_HASHES".into(),
                hash_permits.to_string(),
            ),
            (
                "TOKEND_ARGON2_M_COST".into(),
                args.argon2_m_cost.to_string(),
            ),
            (
                "TOKEND_ARGON2_T_COST".into(),
                args.argon2_t_cost.to_string(),
            ),
            (
                "TOKEND_ARGON2_P_COST".into(),
                args.argon2_p_cost.to_string(),
            ),
        ];
        env.extend(
            BENCH_SETTINGS
                .iter()
                .map(|(k, v)| ((*k).to_string(), (*v).to_string())),
        );
        if let Some(filter) = &args.server_rust_log {
            env.push(("RUST_LOG".into(), filter.clone()));
        }

        // A server object from here on, so an early error still drops the database.
        let mut server = Self {
            addr,
            pid: None,
            admin_key: String::new(),
            introspect: None,
            hash_permits,
            pg_database,
            child: None,
            data_dir: Some(dir),
            pg_admin_url,
        };
        let dir = server.dir()?.to_path_buf();

        let key_out = run_cli(bin, &dir, &env, &["admin-key", "add", "bench"]).await?;
        server.admin_key = key_out
            .lines()
            .last()
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .ok_or_else(|| anyhow!("`tokend admin-key add` printed no key"))?
            .to_string();
        let rs_out = run_cli(bin, &dir, &env, &["resource-server", "add", "bench"]).await?;
        let field = |name: &str| {
            rs_out
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .map(|v| v.trim().to_string())
        };
        server.introspect = field("client_id:").zip(field("client_secret:"));

        let log = std::fs::File::create(dir.join("tokend.log"))?;
        let mut command = match &server_cpus {
            Some(cpus) => {
                let list: Vec<String> = cpus.iter().map(ToString::to_string).collect();
                let mut c = tokio::process::Command::new("taskset");
                c.arg("-c").arg(list.join(",")).arg(bin);
                c
            }
            None => tokio::process::Command::new(bin),
        };
        command
            .arg("serve")
            .current_dir(&dir)
            .env_clear()
            .envs(inherited_env())
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true);
        let child = command.spawn().with_context(|| {
            format!(
                "starting {} (taskset is in util-linux; or pass --server-cpu none)",
                bin.display()
            )
        })?;
        server.pid = child.id();
        server.child = Some(child);
        server.wait_ready().await?;
        Ok(server)
    }

    fn dir(&self) -> anyhow::Result<&Path> {
        self.data_dir
            .as_ref()
            .map(tempfile::TempDir::path)
            .ok_or_else(|| anyhow!("no data directory"))
    }

    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Some(status) = child.try_wait()? {
                    bail!("tokend exited at start ({status}):\n{}", self.log_tail());
                }
            }
            let mut client = Client::new(self.addr)?;
            if let Ok(reply) = client
                .send(request(Method::GET, "/healthz", &[], None)?)
                .await
            {
                if reply.status == 200 {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                bail!(
                    "tokend did not answer /healthz within 60 s:\n{}",
                    self.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The last lines of the server's log.
    pub fn log_tail(&self) -> String {
        let Ok(dir) = self.dir() else {
            return String::new();
        };
        let text = std::fs::read_to_string(dir.join("tokend.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Counts log lines at WARN or ERROR level (read line by line: with the access log at INFO
    /// the file grows by a line per request).
    pub fn log_problems(&self) -> usize {
        use std::io::BufRead as _;
        let Ok(dir) = self.dir() else { return 0 };
        let Ok(file) = std::fs::File::open(dir.join("tokend.log")) else {
            return 0;
        };
        std::io::BufReader::new(file)
            .lines()
            .map_while(Result::ok)
            .filter(|l| {
                let plain = strip_ansi(l);
                plain.contains(" WARN ") || plain.contains(" ERROR ")
            })
            .count()
    }

    /// Stops a started server with SIGTERM (SIGKILL after 10 s), drops its database, and
    /// removes its data directory unless `keep`.
    pub async fn stop(mut self, keep: bool) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            if let Some(pid) = child.id() {
                let pid = nix::unistd::Pid::from_raw(i32::try_from(pid)?);
                let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
            }
            if tokio::time::timeout(Duration::from_secs(10), child.wait())
                .await
                .is_err()
            {
                eprintln!("tokend did not stop on SIGTERM within 10 s; killing it");
                child.kill().await?;
            }
        }
        if let (Some(url), Some(name)) = (self.pg_admin_url.take(), self.pg_database.take()) {
            psql(
                &url,
                &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            )
            .await?;
        }
        if let Some(dir) = self.data_dir.take() {
            if keep {
                eprintln!("kept {}", dir.keep().display());
            }
        }
        Ok(())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Only after an error: `stop` has taken these already. The child dies by kill_on_drop.
        if let Some(child) = self.child.as_mut() {
            let _ = child.start_kill();
        }
        if let (Some(url), Some(name)) = (self.pg_admin_url.take(), self.pg_database.take()) {
            std::thread::sleep(Duration::from_millis(200));
            let _ = std::process::Command::new("psql")
                .args([
                    "-X",
                    "-q",
                    &url,
                    "-c",
                    &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// A log line without its terminal colour codes (`ESC [ … m`).
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The bench's environment minus every `TOKEND_*` variable (tokend refuses unknown ones) and
/// `RUST_LOG` (the server logs with its default filter unless `--server-rust-log`).
fn inherited_env() -> Vec<(String, String)> {
    std::env::vars()
        .filter(|(k, _)| !k.starts_with("TOKEND_") && k != "RUST_LOG")
        .collect()
}

async fn run_cli(
    bin: &Path,
    dir: &Path,
    env: &[(String, String)],
    cli_args: &[&str],
) -> anyhow::Result<String> {
    let output = tokio::process::Command::new(bin)
        .args(cli_args)
        .current_dir(dir)
        .env_clear()
        .envs(inherited_env())
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .output()
        .await
        .with_context(|| format!("running tokend {}", cli_args.join(" ")))?;
    if !output.status.success() {
        bail!(
            "tokend {} failed: {}",
            cli_args.join(" "),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

async fn psql(url: &str, sql: &str) -> anyhow::Result<()> {
    let output = tokio::process::Command::new("psql")
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", url, "-c", sql])
        .stdin(Stdio::null())
        .output()
        .await
        .context("running psql (PostgreSQL's client; apt-get install postgresql-client)")?;
    if !output.status.success() {
        bail!(
            "psql {sql:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}
