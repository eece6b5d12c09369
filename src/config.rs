//! Typed settings. Every setting is an environment variable (`TOKEND_*`); an optional `tokend.toml`
//! in the working directory (or the file named by `TOKEND_CONFIG`) may set the same keys, in lower
//! case without the prefix. The environment wins, so a container can override a baked-in file.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};

use crate::trusted_proxies::TrustedProxies;

/// Argon2id cost, configurable so tests can run with cheap parameters without `cfg(test)` code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Argon2Params {
    /// Memory in KiB (OWASP: 19456).
    pub m_cost: u32,
    /// Iterations (OWASP: 2).
    pub t_cost: u32,
    /// Lanes (OWASP: 1).
    pub p_cost: u32,
}

impl Default for Argon2Params {
    fn default() -> Self {
        Self {
            m_cost: 19_456,
            t_cost: 2,
            p_cost: 1,
        }
    }
}

/// A connection URL (the database, Redis), which may carry a password: `Debug` masks it.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    /// The URL itself, for connecting.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // scheme://user:password@host -> scheme://user:***@host
        match (self.0.find("://"), self.0.rfind('@')) {
            (Some(start), Some(at)) if at > start => {
                let userinfo = &self.0[start + 3..at];
                let user = userinfo.split(':').next().unwrap_or_default();
                write!(f, "\"{}{user}:***{}\"", &self.0[..start + 3], &self.0[at..])
            }
            _ => write!(f, "{:?}", self.0),
        }
    }
}

/// Everything tokend needs to run, resolved once at start-up.
#[derive(Clone, Debug)]
pub struct Settings {
    /// `sqlite://…` or `postgres://…`.
    pub database_url: DatabaseUrl,
    /// Socket address to listen on.
    pub listen: String,
    /// `iss` claim and metadata issuer.
    pub issuer: String,
    /// `aud` claim.
    pub audience: String,
    /// Directory with signing keys and the symmetric secrets.
    pub keys_dir: PathBuf,
    /// Scope vocabulary file; `None` means the built-in default.
    pub scopes_file: Option<PathBuf>,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: TrustedProxies,
    /// Access-token lifetime.
    pub access_token_ttl: Duration,
    /// Retry window for a just-spent refresh token (0 = strict).
    pub refresh_grace: Duration,
    /// Sessions die after this long unused.
    pub session_idle_ttl: Duration,
    /// Sessions die this long after sign-in, used or not.
    pub session_absolute_ttl: Duration,
    /// Prefix of service tokens, before the `_`.
    pub service_token_prefix: String,
    /// Live service tokens per account.
    pub max_service_tokens: u32,
    /// Sign-in attempts per client IP per minute (and burst).
    pub sign_in_per_ip_per_minute: u32,
    /// Sign-in attempts per normalised login per minute (and burst).
    pub sign_in_per_login_per_minute: u32,
    /// Wrong MFA codes per user per 15 minutes, across all of the user's mfa_tokens.
    pub mfa_failures_per_user: u32,
    /// Password hashing cost.
    pub argon2: Argon2Params,
    /// Password hashes allowed in flight at once (memory = this x m_cost).
    pub max_concurrent_hashes: usize,
    /// Largest request body accepted on any route.
    pub max_body_bytes: usize,
    /// Database connection pool size.
    pub db_max_connections: u32,
    /// Lifetime of JWTs a service token is exchanged for (RFC 8693), capped by its own expiry.
    pub exchanged_token_ttl: Duration,
    /// Refuse sign-ins whose `device.client_id` is not a registered client.
    pub require_registered_clients: bool,
    /// Refuse sign-ins without a DPoP proof (RFC 9449): every session is then key-bound.
    pub dpop_required: bool,
    /// Require a server-issued `nonce` in DPoP proofs (RFC 9449 section 8), so a proof made in
    /// advance on a compromised device is useless.
    pub dpop_nonce: bool,
    /// Redis shared by every node for rate limits; `None` keeps them in process.
    pub redis_url: Option<DatabaseUrl>,
    /// Time a client has to send its request headers.
    pub header_read_timeout: Duration,
    /// Time a client has to send its request body.
    pub body_read_timeout: Duration,
    /// Keep-alive connections idle this long are closed.
    pub idle_timeout: Duration,
    /// Connections served at once; more wait in the listen backlog.
    pub max_connections: usize,
    /// After SIGTERM, in-flight requests get this long to finish.
    pub shutdown_grace: Duration,
    /// A separate listener for `/metrics`; when set, `/metrics` leaves the public port.
    pub ops_listen: Option<String>,
    /// Browser origins allowed by CORS (exact match); empty sends no CORS headers.
    pub cors_origins: Vec<String>,
    /// The WebAuthn relying party (a domain); passkeys are off while it is unset.
    pub webauthn_rp_id: Option<String>,
    /// The name authenticators show for the relying party.
    pub webauthn_rp_name: String,
    /// Origins passkeys may be used from: `https://…` web origins on the RP ID and Android apps'
    /// `android:apk-key-hash:…`.
    pub webauthn_origins: Vec<String>,
    /// How long a passkey registration or sign-in challenge lives.
    pub webauthn_challenge_ttl: Duration,
    /// Lifetime of password-reset tickets.
    pub password_reset_ttl: Duration,
    /// Password-reset attempts per client IP per minute (and burst).
    pub password_reset_per_ip_per_minute: u32,
    /// Audit rows older than this many days are pruned.
    pub audit_retention_days: u32,
    /// The rate of service tokens with neither their own nor an account default (`N/PERIOD`).
    pub service_token_default_rate_limit: Option<crate::limits::rate::RateLimit>,
}

/// Every setting tokend reads, so a misspelt one stops the start instead of being ignored.
/// `tokend.toml` keys are these without `TOKEND_`, in lower case.
pub const KNOWN_SETTINGS: &[&str] = &[
    "TOKEND_ACCESS_TOKEN_TTL",
    "TOKEND_ARGON2_M_COST",
    "TOKEND_ARGON2_P_COST",
    "TOKEND_ARGON2_T_COST",
    "TOKEND_AUDIENCE",
    "TOKEND_AUDIT_RETENTION_DAYS",
    "TOKEND_BODY_READ_TIMEOUT_SECONDS",
    "TOKEND_CONFIG",
    "TOKEND_CORS_ORIGINS",
    "TOKEND_DATABASE_URL",
    "TOKEND_DB_MAX_CONNECTIONS",
    "TOKEND_DPOP_NONCE",
    "TOKEND_DPOP_REQUIRED",
    "TOKEND_EXCHANGED_TOKEN_TTL",
    "TOKEND_HEADER_READ_TIMEOUT_SECONDS",
    "TOKEND_IDLE_TIMEOUT_SECONDS",
    "TOKEND_ISSUER",
    "TOKEND_KEYS_DIR",
    "TOKEND_LISTEN",
    "TOKEND_LOG_FORMAT",
    "TOKEND_MAX_BODY_BYTES",
    "TOKEND_MAX_CONCURRENT_HASHES",
    "TOKEND_MAX_CONNECTIONS",
    "TOKEND_MAX_SERVICE_TOKENS",
    "TOKEND_MFA_FAILURES_PER_USER",
    "TOKEND_OPS_LISTEN",
    "TOKEND_PASSWORD_RESET_PER_IP_PER_MINUTE",
    "TOKEND_PASSWORD_RESET_TTL",
    "TOKEND_REDIS_URL",
    "TOKEND_REFRESH_GRACE_SECONDS",
    "TOKEND_REQUIRE_REGISTERED_CLIENTS",
    "TOKEND_SCOPES_FILE",
    "TOKEND_SERVICE_TOKEN_DEFAULT_RATE_LIMIT",
    "TOKEND_SERVICE_TOKEN_PREFIX",
    "TOKEND_SESSION_ABSOLUTE_SECONDS",
    "TOKEND_SESSION_IDLE_SECONDS",
    "TOKEND_SHUTDOWN_GRACE_SECONDS",
    "TOKEND_SIGN_IN_PER_IP_PER_MINUTE",
    "TOKEND_SIGN_IN_PER_LOGIN_PER_MINUTE",
    "TOKEND_TRUSTED_PROXIES",
    "TOKEND_WEBAUTHN_CHALLENGE_TTL",
    "TOKEND_WEBAUTHN_ORIGINS",
    "TOKEND_WEBAUTHN_RP_ID",
    "TOKEND_WEBAUTHN_RP_NAME",
];

/// Variables under the `TOKEND_` prefix that belong to tokend's test suite or its companions, not
/// the server.
/// Also the example resource API's `TOKEND_INTROSPECT_*`, so one shell can run both.
const TEST_SUITE_VARIABLES: &[&str] = &[
    "TOKEND_TEST_POSTGRES_URL",
    "TOKEND_INTROSPECT_CLIENT_ID",
    "TOKEND_INTROSPECT_CLIENT_SECRET",
];

/// Levenshtein distance, to suggest the setting a typo meant.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous + usize::from(ca != *cb);
            previous = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(previous + 1);
        }
    }
    row[b.len()]
}

/// The known setting closest to `key`.
fn closest_setting(key: &str) -> &'static str {
    KNOWN_SETTINGS
        .iter()
        .min_by_key(|known| edit_distance(key, known))
        .copied()
        .unwrap_or("TOKEND_LISTEN")
}

/// Source of raw key/value pairs: the environment layered over `tokend.toml`.
struct Raw(HashMap<String, String>);

impl Raw {
    fn load(env: &HashMap<String, String>) -> anyhow::Result<Self> {
        let mut values = HashMap::new();
        let file = env
            .get("TOKEND_CONFIG")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("tokend.toml"));
        if file.exists() {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let table: toml::Table =
                toml::from_str(&text).with_context(|| format!("parsing {}", file.display()))?;
            for (key, value) in table {
                let name = format!("TOKEND_{}", key.to_ascii_uppercase());
                if !KNOWN_SETTINGS.contains(&name.as_str()) || name == "TOKEND_CONFIG" {
                    let suggestion = closest_setting(&name)
                        .trim_start_matches("TOKEND_")
                        .to_ascii_lowercase();
                    bail!(
                        "unknown setting {key:?} in {}; did you mean {suggestion:?}?",
                        file.display()
                    );
                }
                let value = match value {
                    toml::Value::String(s) => s,
                    other => other.to_string(),
                };
                values.insert(format!("TOKEND_{}", key.to_ascii_uppercase()), value);
            }
        }
        for (key, value) in env {
            if !key.starts_with("TOKEND_") || TEST_SUITE_VARIABLES.contains(&key.as_str()) {
                continue;
            }
            if !KNOWN_SETTINGS.contains(&key.as_str()) {
                bail!(
                    "unknown setting {key}; did you mean {}?",
                    closest_setting(key)
                );
            }
            values.insert(key.clone(), value.clone());
        }
        Ok(Self(values))
    }

    fn string(&self, key: &str, default: &str) -> String {
        self.0
            .get(key)
            .cloned()
            .unwrap_or_else(|| default.to_string())
    }

    fn number<T: std::str::FromStr>(&self, key: &str, default: T) -> anyhow::Result<T> {
        match self.0.get(key) {
            None => Ok(default),
            Some(v) => v
                .trim()
                .parse()
                .map_err(|_| anyhow::anyhow!("{key} must be a whole number, got {v:?}")),
        }
    }

    fn flag(&self, key: &str, default: bool) -> anyhow::Result<bool> {
        match self.0.get(key).map(|v| v.trim().to_ascii_lowercase()) {
            None => Ok(default),
            Some(v) if v == "true" || v == "1" => Ok(true),
            Some(v) if v == "false" || v == "0" => Ok(false),
            Some(v) => bail!("{key} must be true or false, got {v:?}"),
        }
    }

    fn seconds(&self, key: &str, default: u64) -> anyhow::Result<Duration> {
        Ok(Duration::from_secs(self.number(key, default)?))
    }
}

impl Settings {
    /// Reads the process environment (and `tokend.toml`).
    pub fn from_env() -> anyhow::Result<Self> {
        Self::from_map(&std::env::vars().collect())
    }

    /// Reads settings from an explicit map, so tests need not mutate the process environment.
    pub fn from_map(env: &HashMap<String, String>) -> anyhow::Result<Self> {
        let raw = Raw::load(env)?;
        let listen = raw.string("TOKEND_LISTEN", "127.0.0.1:8080");
        let issuer = raw.string("TOKEND_ISSUER", &format!("http://{listen}"));
        let trusted_proxies = TrustedProxies::parse(&raw.string("TOKEND_TRUSTED_PROXIES", ""))
            .map_err(|e| anyhow::anyhow!("TOKEND_TRUSTED_PROXIES: {e}"))?;
        let settings = Self {
            database_url: DatabaseUrl(raw.string("TOKEND_DATABASE_URL", "sqlite://tokend.db")),
            listen,
            issuer: issuer.trim_end_matches('/').to_string(),
            audience: raw.string("TOKEND_AUDIENCE", "tokend"),
            keys_dir: PathBuf::from(raw.string("TOKEND_KEYS_DIR", "keys")),
            scopes_file: raw.0.get("TOKEND_SCOPES_FILE").map(PathBuf::from),
            trusted_proxies,
            access_token_ttl: raw.seconds("TOKEND_ACCESS_TOKEN_TTL", 900)?,
            refresh_grace: raw.seconds("TOKEND_REFRESH_GRACE_SECONDS", 10)?,
            session_idle_ttl: raw.seconds("TOKEND_SESSION_IDLE_SECONDS", 30 * 86_400)?,
            session_absolute_ttl: raw.seconds("TOKEND_SESSION_ABSOLUTE_SECONDS", 90 * 86_400)?,
            service_token_prefix: raw.string("TOKEND_SERVICE_TOKEN_PREFIX", "tkd_live"),
            max_service_tokens: raw.number("TOKEND_MAX_SERVICE_TOKENS", 10)?,
            sign_in_per_ip_per_minute: raw.number("TOKEND_SIGN_IN_PER_IP_PER_MINUTE", 20)?,
            sign_in_per_login_per_minute: raw.number("TOKEND_SIGN_IN_PER_LOGIN_PER_MINUTE", 10)?,
            mfa_failures_per_user: raw.number("TOKEND_MFA_FAILURES_PER_USER", 10)?,
            argon2: Argon2Params {
                m_cost: raw.number("TOKEND_ARGON2_M_COST", 19_456)?,
                t_cost: raw.number("TOKEND_ARGON2_T_COST", 2)?,
                p_cost: raw.number("TOKEND_ARGON2_P_COST", 1)?,
            },
            max_concurrent_hashes: raw.number(
                "TOKEND_MAX_CONCURRENT_HASHES",
                std::thread::available_parallelism().map_or(2, |n| n.get() * 2),
            )?,
            max_body_bytes: raw.number("TOKEND_MAX_BODY_BYTES", 1024 * 1024)?,
            db_max_connections: raw.number("TOKEND_DB_MAX_CONNECTIONS", 16)?,
            exchanged_token_ttl: raw.seconds("TOKEND_EXCHANGED_TOKEN_TTL", 300)?,
            require_registered_clients: raw.flag("TOKEND_REQUIRE_REGISTERED_CLIENTS", false)?,
            dpop_required: raw.flag("TOKEND_DPOP_REQUIRED", false)?,
            dpop_nonce: raw.flag("TOKEND_DPOP_NONCE", false)?,
            redis_url: raw
                .0
                .get("TOKEND_REDIS_URL")
                .filter(|v| !v.is_empty())
                .cloned()
                .map(DatabaseUrl),
            header_read_timeout: raw.seconds("TOKEND_HEADER_READ_TIMEOUT_SECONDS", 10)?,
            body_read_timeout: raw.seconds("TOKEND_BODY_READ_TIMEOUT_SECONDS", 30)?,
            idle_timeout: raw.seconds("TOKEND_IDLE_TIMEOUT_SECONDS", 60)?,
            max_connections: raw.number("TOKEND_MAX_CONNECTIONS", 10_000)?,
            shutdown_grace: raw.seconds("TOKEND_SHUTDOWN_GRACE_SECONDS", 20)?,
            ops_listen: raw
                .0
                .get("TOKEND_OPS_LISTEN")
                .filter(|v| !v.is_empty())
                .cloned(),
            password_reset_ttl: raw.seconds("TOKEND_PASSWORD_RESET_TTL", 1800)?,
            password_reset_per_ip_per_minute: raw
                .number("TOKEND_PASSWORD_RESET_PER_IP_PER_MINUTE", 20)?,
            audit_retention_days: raw.number("TOKEND_AUDIT_RETENTION_DAYS", 365)?,
            service_token_default_rate_limit: match raw
                .0
                .get("TOKEND_SERVICE_TOKEN_DEFAULT_RATE_LIMIT")
                .filter(|v| !v.trim().is_empty() && v.trim() != "off")
            {
                None => None,
                Some(v) => Some(v.parse().map_err(|e| {
                    anyhow::anyhow!("TOKEND_SERVICE_TOKEN_DEFAULT_RATE_LIMIT: {e}")
                })?),
            },
            cors_origins: raw
                .string("TOKEND_CORS_ORIGINS", "")
                .split(',')
                .map(|o| o.trim().trim_end_matches('/').to_string())
                .filter(|o| !o.is_empty())
                .collect(),
            webauthn_rp_id: Some(raw.string("TOKEND_WEBAUTHN_RP_ID", ""))
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty()),
            webauthn_rp_name: raw
                .string("TOKEND_WEBAUTHN_RP_NAME", "tokend")
                .trim()
                .to_string(),
            webauthn_origins: raw
                .string("TOKEND_WEBAUTHN_ORIGINS", "")
                .split(',')
                .map(|o| o.trim().to_string())
                .filter(|o| !o.is_empty())
                .collect(),
            webauthn_challenge_ttl: raw.seconds("TOKEND_WEBAUTHN_CHALLENGE_TTL", 300)?,
        };
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> anyhow::Result<()> {
        match (&self.webauthn_rp_id, self.webauthn_origins.is_empty()) {
            (None, false) => bail!(
                "TOKEND_WEBAUTHN_ORIGINS is set but TOKEND_WEBAUTHN_RP_ID is not: set both to turn \
                 passkeys on, or neither"
            ),
            (Some(_), true) => bail!(
                "TOKEND_WEBAUTHN_RP_ID is set but TOKEND_WEBAUTHN_ORIGINS is empty: name the web \
                 origins (https://…) and Android app origins (android:apk-key-hash:…) passkeys \
                 are used from"
            ),
            _ => {}
        }
        let ttl = self.webauthn_challenge_ttl.as_secs();
        if !(30..=600).contains(&ttl) {
            bail!("TOKEND_WEBAUTHN_CHALLENGE_TTL must be 30 to 600 seconds, not {ttl}");
        }
        if self.access_token_ttl.is_zero() {
            bail!("TOKEND_ACCESS_TOKEN_TTL must be at least 1 second");
        }
        if self.service_token_prefix.is_empty()
            || !self
                .service_token_prefix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            bail!("TOKEND_SERVICE_TOKEN_PREFIX must be ASCII letters, digits and '_'");
        }
        if self.exchanged_token_ttl.is_zero() {
            bail!("TOKEND_EXCHANGED_TOKEN_TTL must be at least 1 second");
        }
        for (name, d) in [
            (
                "TOKEND_HEADER_READ_TIMEOUT_SECONDS",
                self.header_read_timeout,
            ),
            ("TOKEND_BODY_READ_TIMEOUT_SECONDS", self.body_read_timeout),
            ("TOKEND_IDLE_TIMEOUT_SECONDS", self.idle_timeout),
        ] {
            if d.is_zero() {
                bail!("{name} must be at least 1 second");
            }
        }
        if self.password_reset_ttl.is_zero() {
            bail!("TOKEND_PASSWORD_RESET_TTL must be at least 1 second");
        }
        if self.audit_retention_days == 0 {
            bail!("TOKEND_AUDIT_RETENTION_DAYS must be at least 1");
        }
        if self.max_connections == 0 {
            bail!("TOKEND_MAX_CONNECTIONS must be at least 1");
        }
        if let Some(bad) = self
            .cors_origins
            .iter()
            .find(|o| !(o.starts_with("http://") || o.starts_with("https://")) || o.contains('*'))
        {
            bail!(
                "TOKEND_CORS_ORIGINS: {bad:?} is not an exact origin like https://app.example.com"
            );
        }
        if self.max_concurrent_hashes == 0 {
            bail!("TOKEND_MAX_CONCURRENT_HASHES must be at least 1");
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_match_the_contract() {
        let s = Settings::from_map(&map(&[("TOKEND_CONFIG", "/nonexistent.toml")])).unwrap();
        assert_eq!(s.database_url.expose(), "sqlite://tokend.db");
        assert_eq!(s.issuer, "http://127.0.0.1:8080");
        assert_eq!(s.access_token_ttl, Duration::from_secs(900));
        assert_eq!(s.refresh_grace, Duration::from_secs(10));
        assert_eq!(s.max_service_tokens, 10);
        assert_eq!(s.sign_in_per_ip_per_minute, 20);
        assert_eq!(s.sign_in_per_login_per_minute, 10);
        // OWASP's argon2id recommendation, spelled out rather than compared with our own default.
        assert_eq!(
            (s.argon2.m_cost, s.argon2.t_cost, s.argon2.p_cost),
            (19_456, 2, 1)
        );
    }

    #[test]
    fn debug_never_prints_the_database_password() {
        let s = Settings::from_map(&map(&[
            ("TOKEND_CONFIG", "/nonexistent.toml"),
            (
                "TOKEND_DATABASE_URL",
                "postgres://app:hunter2@db:5432/tokend",
            ),
        ]))
        .unwrap();
        let printed = format!("{s:?}");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(
            printed.contains("postgres://app:***@db:5432/tokend"),
            "{printed}"
        );
        let s = Settings::from_map(&map(&[
            ("TOKEND_CONFIG", "/nonexistent.toml"),
            ("TOKEND_REDIS_URL", "redis://:sesame@cache:6379/0"),
        ]))
        .unwrap();
        let printed = format!("{s:?}");
        assert!(!printed.contains("sesame"), "{printed}");
    }

    #[test]
    fn bad_numbers_name_the_setting() {
        let err = Settings::from_map(&map(&[
            ("TOKEND_CONFIG", "/nonexistent.toml"),
            ("TOKEND_ACCESS_TOKEN_TTL", "soon"),
        ]))
        .unwrap_err();
        assert!(err.to_string().contains("TOKEND_ACCESS_TOKEN_TTL"));
    }

    #[test]
    fn unknown_settings_stop_the_start_naming_the_closest() {
        let err = Settings::from_map(&map(&[
            ("TOKEND_CONFIG", "/nonexistent.toml"),
            ("TOKEND_ACCES_TOKEN_TTL", "60"),
        ]))
        .unwrap_err()
        .to_string();
        assert!(err.contains("TOKEND_ACCES_TOKEN_TTL"), "{err}");
        assert!(
            err.contains("did you mean TOKEND_ACCESS_TOKEN_TTL"),
            "{err}"
        );

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tokend.toml");
        std::fs::write(&file, "acess_token_ttl = 60\n").unwrap();
        let err = Settings::from_map(&map(&[("TOKEND_CONFIG", file.to_str().unwrap())]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"acess_token_ttl\""), "{err}");
        assert!(err.contains("did you mean \"access_token_ttl\""), "{err}");

        // Known keys in either place, and the test suite's own variable, are fine.
        std::fs::write(&file, "access_token_ttl = 60\n").unwrap();
        let s = Settings::from_map(&map(&[
            ("TOKEND_CONFIG", file.to_str().unwrap()),
            ("TOKEND_TEST_POSTGRES_URL", "postgres://x"),
        ]))
        .unwrap();
        assert_eq!(s.access_token_ttl.as_secs(), 60);
    }

    #[test]
    fn edit_distance_counts_single_edits() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
    }

    #[test]
    fn operations_settings_have_defaults_and_are_checked() {
        let s = Settings::from_map(&map(&[("TOKEND_CONFIG", "/nonexistent.toml")])).unwrap();
        assert_eq!(s.header_read_timeout.as_secs(), 10);
        assert_eq!(s.body_read_timeout.as_secs(), 30);
        assert_eq!(s.idle_timeout.as_secs(), 60);
        assert_eq!(s.max_connections, 10_000);
        assert_eq!(s.shutdown_grace.as_secs(), 20);
        assert!(s.redis_url.is_none() && s.ops_listen.is_none() && s.cors_origins.is_empty());
        for (k, v) in [
            ("TOKEND_CORS_ORIGINS", "*"),
            ("TOKEND_CORS_ORIGINS", "app.example.com"),
            ("TOKEND_MAX_CONNECTIONS", "0"),
            ("TOKEND_HEADER_READ_TIMEOUT_SECONDS", "0"),
        ] {
            let err = Settings::from_map(&map(&[("TOKEND_CONFIG", "/nonexistent.toml"), (k, v)]));
            assert!(err.is_err(), "{k}={v}");
        }
        let s = Settings::from_map(&map(&[
            ("TOKEND_CONFIG", "/nonexistent.toml"),
            (
                "TOKEND_CORS_ORIGINS",
                "https://a.example.com, https://b.example.com/",
            ),
        ]))
        .unwrap();
        assert_eq!(
            s.cors_origins,
            ["https://a.example.com", "https://b.example.com"]
        );
    }
}
