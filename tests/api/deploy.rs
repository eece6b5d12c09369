//! The deployment files agree with each other and with the binary, checked without a Docker
//! engine: `docker-compose.yml` is parsed as YAML, the `Dockerfile` and `deploy/nginx.conf` as
//! text. Every `TOKEND_*` variable must be a setting tokend knows (an unknown one stops the start),
//! the tokend settings must pass `Settings::from_map`, the tokend service must scale (no fixed host
//! port, one shared keys volume) and the image must be multi-stage and run as a non-root user.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::path::PathBuf;

use ipnet::IpNet;
use serde_yaml_ng::{Mapping, Value};
use tokend::config::{Settings, KNOWN_SETTINGS};

/// The service that runs the token server.
const TOKEND: &str = "tokend";

fn repo_path(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(relative)
}

fn read_repo_file(relative: &str) -> String {
    std::fs::read_to_string(repo_path(relative))
        .unwrap_or_else(|e| panic!("reading {relative}: {e}"))
}

/// `docker-compose.yml` with YAML merge keys (`<<: *anchor`) applied, as compose does.
fn compose() -> Value {
    let mut value: Value =
        serde_yaml_ng::from_str(&read_repo_file("docker-compose.yml")).expect("compose is YAML");
    value.apply_merge().expect("merge keys apply");
    value
}

fn services(compose: &Value) -> &Mapping {
    compose["services"]
        .as_mapping()
        .expect("compose has a services map")
}

fn service<'a>(compose: &'a Value, name: &str) -> &'a Value {
    compose["services"]
        .get(name)
        .unwrap_or_else(|| panic!("compose has no service {name:?}"))
}

fn service_names(compose: &Value) -> Vec<String> {
    services(compose)
        .keys()
        .map(|k| k.as_str().expect("service names are strings").to_string())
        .collect()
}

/// A scalar as compose reads it (`"10"`, `10` and `true` are all strings to a container).
fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Resolves compose interpolation as if none of the variables were set: `${VAR:-default}` and
/// `${VAR-default}` give their default (itself interpolated), `${VAR}` and `$VAR` the empty string,
/// `$$` a literal `$`. `${VAR:?message}` has no default: that fails here, as it would in compose.
fn with_defaults(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(inner) = after.strip_prefix('{') {
            let mut depth = 1;
            let end = inner
                .char_indices()
                .find(|&(_, c)| {
                    match c {
                        '{' => depth += 1,
                        '}' => depth -= 1,
                        _ => {}
                    }
                    depth == 0
                })
                .map(|(i, _)| i)
                .unwrap_or_else(|| panic!("unclosed ${{ in {text:?}"));
            let expression = &inner[..end];
            let name_len = expression
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(expression.len());
            let operator = &expression[name_len..];
            if let Some(default) = operator
                .strip_prefix(":-")
                .or_else(|| operator.strip_prefix('-'))
            {
                out.push_str(&with_defaults(default));
            } else if operator.starts_with(":?") || operator.starts_with('?') {
                panic!("{text:?} requires {} to be set", &expression[..name_len]);
            } else {
                assert!(operator.is_empty(), "unsupported interpolation in {text:?}");
            }
            rest = &inner[end + 1..];
        } else {
            let name_len = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            assert!(name_len > 0, "a lone $ in {text:?}: write $$");
            rest = &after[name_len..];
        }
    }
    out.push_str(rest);
    out
}

/// Names of the variables a text interpolates (`${NAME…}` or `$NAME`).
fn interpolated_names(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            rest = tail;
            continue;
        }
        let body = after.strip_prefix('{').unwrap_or(after);
        let name_len = body
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(body.len());
        names.push(body[..name_len].to_string());
        rest = &body[name_len..];
    }
    names
}

/// Every string in the compose file, keys and values, for the interpolation check.
fn all_strings(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) => out.push(s.clone()),
        Value::Sequence(items) => items.iter().for_each(|v| all_strings(v, out)),
        Value::Mapping(map) => map.iter().for_each(|(k, v)| {
            all_strings(k, out);
            all_strings(v, out);
        }),
        Value::Tagged(tagged) => all_strings(&tagged.value, out),
        _ => {}
    }
}

/// A service's `environment`, map or list form, with defaults resolved. Variables passed through
/// from the host (`- NAME`, or `NAME:` with no value) are unset here, as on a clean host.
fn environment(service: &Value) -> BTreeMap<String, String> {
    assert!(
        service.get("env_file").is_none(),
        "env_file is not read by this test: keep settings in `environment`"
    );
    let mut env = BTreeMap::new();
    match service.get("environment") {
        None => {}
        Some(Value::Mapping(map)) => {
            for (key, value) in map {
                let key = key
                    .as_str()
                    .expect("variable names are strings")
                    .to_string();
                if let Some(value) = scalar(value) {
                    env.insert(key, with_defaults(&value));
                } else {
                    assert!(value.is_null(), "{key} must be a scalar");
                }
            }
        }
        Some(Value::Sequence(items)) => {
            for item in items {
                let item = item.as_str().expect("list-form variables are strings");
                if let Some((key, value)) = item.split_once('=') {
                    env.insert(key.to_string(), with_defaults(value));
                }
            }
        }
        Some(other) => panic!("environment must be a map or a list, got {other:?}"),
    }
    env
}

fn tokend_environment(compose: &Value) -> BTreeMap<String, String> {
    environment(service(compose, TOKEND))
}

/// Settings as the tokend containers get them: the image's `ENV` lines under the compose
/// environment (compose wins), and no `tokend.toml` from this machine.
fn tokend_settings(compose: &Value) -> Settings {
    let mut env: HashMap<String, String> = dockerfile_env().into_iter().collect();
    env.extend(tokend_environment(compose));
    env.insert("TOKEND_CONFIG".into(), "/nonexistent.toml".into());
    Settings::from_map(&env)
        .unwrap_or_else(|e| panic!("the tokend service's settings are refused: {e:#}"))
}

/// Host ports a service publishes: `HOST:CONTAINER`, `IP:HOST:CONTAINER` and the long syntax's
/// `published`. A bare container port (`"8080"`) publishes on a random host port, which scales.
fn published_host_ports(service: &Value) -> Vec<String> {
    let Some(ports) = service.get("ports") else {
        return Vec::new();
    };
    let ports = ports.as_sequence().expect("ports is a list");
    let mut published = Vec::new();
    for port in ports {
        if let Some(long) = port.as_mapping() {
            if let Some(host) = long.get("published").and_then(scalar) {
                published.push(with_defaults(&host));
            }
            continue;
        }
        let short = with_defaults(&scalar(port).expect("a port is a string or a number"));
        let without_protocol = short.split('/').next().unwrap_or_default();
        // `[::1]:8080:80` and `127.0.0.1:8080:80` carry an address first: the host port is the
        // second field from the right.
        let fields: Vec<&str> = without_protocol.rsplitn(3, ':').collect();
        if fields.len() >= 2 && !fields[1].is_empty() {
            published.push(fields[1].to_string());
        }
    }
    published
}

/// A volume mount: (source, target); the source is empty for an anonymous volume.
fn mounts(service: &Value) -> Vec<(String, String)> {
    let Some(volumes) = service.get("volumes") else {
        return Vec::new();
    };
    volumes
        .as_sequence()
        .expect("volumes is a list")
        .iter()
        .map(|v| {
            if let Some(long) = v.as_mapping() {
                let field = |name: &str| long.get(name).and_then(scalar).unwrap_or_default();
                (
                    with_defaults(&field("source")),
                    with_defaults(&field("target")),
                )
            } else {
                let short = with_defaults(v.as_str().expect("a short volume is a string"));
                let mut parts = short.split(':');
                match (parts.next(), parts.next()) {
                    (Some(source), Some(target)) => (source.to_string(), target.to_string()),
                    (Some(target), None) => (String::new(), target.to_string()),
                    _ => unreachable!("split yields at least one part"),
                }
            }
        })
        .collect()
}

/// A mount source that names a volume rather than a host path.
fn is_named_volume(source: &str) -> bool {
    !source.is_empty() && !source.starts_with(['.', '/', '~'])
}

/// The Dockerfile's instructions, continuation lines joined, comments dropped: (INSTRUCTION, rest).
fn dockerfile() -> Vec<(String, String)> {
    let text = read_repo_file("Dockerfile");
    let mut instructions = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (trimmed.is_empty() && current.is_empty()) {
            continue;
        }
        if let Some(continued) = trimmed.strip_suffix('\\') {
            current.push_str(continued);
            current.push(' ');
            continue;
        }
        current.push_str(trimmed);
        let (instruction, rest) = current
            .split_once(char::is_whitespace)
            .unwrap_or((&current, ""));
        instructions.push((instruction.to_ascii_uppercase(), rest.trim().to_string()));
        current.clear();
    }
    instructions
}

/// The instructions of the final (runtime) stage.
fn runtime_stage() -> Vec<(String, String)> {
    let all = dockerfile();
    let last_from = all
        .iter()
        .rposition(|(i, _)| i == "FROM")
        .expect("the Dockerfile has a FROM");
    all[last_from..].to_vec()
}

/// `ENV` of the runtime stage (`KEY=value` pairs; values here have no spaces or quotes).
fn dockerfile_env() -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    for (_, rest) in runtime_stage().iter().filter(|(i, _)| i == "ENV") {
        for pair in rest.split_whitespace() {
            let (key, value) = pair
                .split_once('=')
                .unwrap_or_else(|| panic!("write ENV as KEY=value, got {rest:?}"));
            env.insert(key.to_string(), value.to_string());
        }
    }
    env
}

/// The port of a `host:port` listen address.
fn port_of(listen: &str) -> &str {
    listen.rsplit(':').next().unwrap_or_default()
}

#[test]
fn compose_sets_only_settings_tokend_knows() {
    let compose = compose();
    for name in service_names(&compose) {
        if name == "photos-api" {
            // The example resource API, not tokend: it reads exactly these.
            let known = [
                "PHOTOS_API_LISTEN",
                "PHOTOS_API_AUDIENCE",
                "PHOTOS_API_REDIS_URL",
                "PHOTOS_API_TRUSTED_PROXIES",
                "TOKEND_ISSUER",
                "TOKEND_INTROSPECT_CLIENT_ID",
                "TOKEND_INTROSPECT_CLIENT_SECRET",
            ];
            for key in environment(service(&compose, &name)).keys() {
                assert!(
                    known.contains(&key.as_str()),
                    "photos-api sets {key}, which it does not read"
                );
            }
            continue;
        }
        for key in environment(service(&compose, &name)).keys() {
            if key.starts_with("TOKEND_") {
                assert!(
                    KNOWN_SETTINGS.contains(&key.as_str()),
                    "service {name} sets {key}, which tokend does not know (it would refuse to start)"
                );
            }
        }
    }
    // Variables interpolated from the operator's shell or .env: a TOKEND_ one is also read by a
    // tokend started from that shell, so it must be a real setting too.
    let mut strings = Vec::new();
    all_strings(&compose, &mut strings);
    for name in strings.iter().flat_map(|s| interpolated_names(s)) {
        assert!(
            !name.starts_with("TOKEND_") || KNOWN_SETTINGS.contains(&name.as_str()),
            "compose interpolates ${name}, which is not a tokend setting"
        );
    }
    for key in dockerfile_env().keys() {
        assert!(
            KNOWN_SETTINGS.contains(&key.as_str()),
            "the Dockerfile sets {key}, which tokend does not know"
        );
    }
}

#[test]
fn compose_tokend_settings_are_accepted_and_fit_the_deployment() {
    let compose = compose();
    let env = tokend_environment(&compose);
    let settings = tokend_settings(&compose);

    assert!(
        settings.database_url.expose().starts_with("postgres://"),
        "replicas must share PostgreSQL, got {:?}",
        settings.database_url
    );
    assert!(
        settings.database_url.expose().contains("@postgres:"),
        "the database host is the postgres service"
    );
    assert_eq!(
        settings.redis_url.as_ref().map(|u| u.expose()),
        Some("redis://redis:6379")
    );
    assert!(
        settings.listen.starts_with("0.0.0.0:"),
        "a container must listen on every interface, got {}",
        settings.listen
    );
    for service_name in ["postgres", "redis"] {
        service(&compose, service_name);
    }

    // The issuer is the public URL through the proxy.
    let proxy_ports: Vec<String> = service_names(&compose)
        .iter()
        .flat_map(|name| published_host_ports(service(&compose, name)))
        .collect();
    assert!(
        proxy_ports
            .iter()
            .any(|port| settings.issuer.ends_with(&format!(":{port}"))),
        "TOKEND_ISSUER {} is not on a published port {proxy_ports:?}",
        settings.issuer
    );

    // X-Forwarded-For is believed from the whole compose network, and from nothing wider.
    let subnets: Vec<IpNet> = compose["networks"]["default"]["ipam"]["config"]
        .as_sequence()
        .expect("the default network has a fixed subnet, for TOKEND_TRUSTED_PROXIES")
        .iter()
        .map(|c| {
            c["subnet"]
                .as_str()
                .expect("subnet")
                .parse()
                .expect("a CIDR")
        })
        .collect();
    assert!(!subnets.is_empty());
    for net in &subnets {
        for ip in [net.network(), net.broadcast()] {
            assert!(
                settings.trusted_proxies.contains(ip),
                "TOKEND_TRUSTED_PROXIES does not cover the compose network {net}"
            );
        }
    }
    let configured = env
        .get("TOKEND_TRUSTED_PROXIES")
        .expect("TOKEND_TRUSTED_PROXIES is set");
    for entry in configured.split(',').map(str::trim) {
        let entry: IpNet = entry
            .parse()
            .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
            .expect("a CIDR or an address");
        assert!(
            subnets.iter().any(|net| net.contains(&entry)),
            "TOKEND_TRUSTED_PROXIES entry {entry} is outside the compose network"
        );
    }

    // Every other tokend container built from the Dockerfile (the one-shot init, admin `run`s of
    // it) runs with exactly the same settings and keys; the example API only shares the image,
    // and must name the same issuer its tokens carry.
    for name in service_names(&compose) {
        let other = service(&compose, &name);
        if name == "photos-api" {
            assert_eq!(
                environment(other).get("TOKEND_ISSUER"),
                env.get("TOKEND_ISSUER")
            );
            continue;
        }
        if name != TOKEND && other.get("build").is_some() {
            assert_eq!(environment(other), env, "service {name} has other settings");
            assert_eq!(mounts(other), mounts(service(&compose, TOKEND)));
        }
    }
}

#[test]
fn tokend_scales_behind_the_only_published_port() {
    let compose = compose();
    let tokend = service(&compose, TOKEND);
    assert_eq!(
        published_host_ports(tokend),
        Vec::<String>::new(),
        "a fixed host port on tokend breaks `docker compose up --scale tokend=3`"
    );
    for blocker in ["container_name", "network_mode", "hostname"] {
        assert!(
            tokend.get(blocker).is_none(),
            "{blocker} on tokend breaks scaling"
        );
    }

    let publishers: Vec<String> = service_names(&compose)
        .into_iter()
        .filter(|name| !published_host_ports(service(&compose, name)).is_empty())
        .collect();
    assert_eq!(
        publishers.len(),
        1,
        "only the proxy publishes a host port (databases stay inside), got {publishers:?}"
    );
    let proxy = service(&compose, &publishers[0]);
    assert!(
        proxy["depends_on"].get(TOKEND).is_some(),
        "the proxy starts after tokend"
    );
}

#[test]
fn depends_on_healthy_only_on_services_with_a_healthcheck() {
    let compose = compose();
    let image_has_healthcheck = runtime_stage().iter().any(|(i, _)| i == "HEALTHCHECK");
    for name in service_names(&compose) {
        let Some(depends_on) = service(&compose, &name)["depends_on"].as_mapping() else {
            continue;
        };
        for (dependency, options) in depends_on {
            let dependency = dependency.as_str().expect("a service name");
            let target = service(&compose, dependency);
            if options["condition"].as_str() == Some("service_healthy") {
                let has_check = target.get("healthcheck").is_some()
                    || (target.get("build").is_some() && image_has_healthcheck);
                assert!(
                    has_check,
                    "{name} waits for {dependency} to be healthy, which has no healthcheck"
                );
            }
        }
    }
    for name in ["postgres", "redis"] {
        assert!(
            service(&compose, name).get("healthcheck").is_some(),
            "{name} has a healthcheck"
        );
    }
    assert_eq!(
        service(&compose, TOKEND)["depends_on"]["postgres"]["condition"].as_str(),
        Some("service_healthy")
    );
}

#[test]
fn every_tokend_container_shares_one_named_keys_volume() {
    let compose = compose();
    let settings = tokend_settings(&compose);
    let keys_dir = settings.keys_dir.to_str().expect("utf-8 path").to_string();
    assert_eq!(
        dockerfile_env().get("TOKEND_KEYS_DIR"),
        Some(&keys_dir),
        "the image and compose agree on the keys directory"
    );
    let declared = compose["volumes"].as_mapping().expect("top-level volumes");
    let keys_volume = mounts(service(&compose, TOKEND))
        .into_iter()
        .find(|(_, target)| *target == keys_dir)
        .map(|(source, _)| source)
        .unwrap_or_else(|| panic!("tokend mounts nothing at {keys_dir}"));
    assert!(
        is_named_volume(&keys_volume) && declared.contains_key(keys_volume.as_str()),
        "the keys must be a named volume declared in `volumes:` (every replica mounts the same \
         one), got {keys_volume:?}"
    );
    let pgdata = mounts(service(&compose, "postgres"));
    assert!(
        pgdata
            .iter()
            .any(|(source, _)| is_named_volume(source) && declared.contains_key(source.as_str())),
        "PostgreSQL keeps its data in a named volume"
    );
}

#[test]
fn the_image_is_multi_stage_non_root_and_on_the_pinned_toolchain() {
    let instructions = dockerfile();
    let froms: Vec<&String> = instructions
        .iter()
        .filter(|(i, _)| i == "FROM")
        .map(|(_, rest)| rest)
        .collect();
    assert!(
        froms.len() >= 2,
        "multi-stage: a build stage and a runtime stage"
    );

    let toolchain: toml::Table =
        toml::from_str(&read_repo_file("rust-toolchain.toml")).expect("rust-toolchain.toml");
    let channel = toolchain["toolchain"]["channel"]
        .as_str()
        .expect("a pinned channel");
    let builder = froms[0].split_whitespace().next().unwrap_or_default();
    assert_eq!(
        builder
            .split_once(':')
            .map(|(image, tag)| (image, tag.split('-').next())),
        Some(("rust", Some(channel))),
        "the build stage uses the toolchain of rust-toolchain.toml"
    );

    let runtime = runtime_stage();
    let user = runtime
        .iter()
        .rev()
        .find(|(i, _)| i == "USER")
        .map(|(_, rest)| rest.clone())
        .expect("the runtime stage sets USER");
    let name = user.split(':').next().unwrap_or_default();
    assert!(
        !name.is_empty() && name != "root" && name != "0",
        "the image must not run as root, got USER {user}"
    );
    let entrypoint = runtime
        .iter()
        .rev()
        .find(|(i, _)| i == "ENTRYPOINT")
        .map(|(_, rest)| rest.clone())
        .expect("ENTRYPOINT");
    assert_eq!(entrypoint, r#"["tokend"]"#);

    // The image's own defaults start tokend (SQLite on its data volume) and listen where EXPOSE says.
    let mut env: HashMap<String, String> = dockerfile_env().into_iter().collect();
    env.insert("TOKEND_CONFIG".into(), "/nonexistent.toml".into());
    let settings = Settings::from_map(&env).expect("the image's ENV is accepted");
    let exposed = runtime
        .iter()
        .find(|(i, _)| i == "EXPOSE")
        .map(|(_, rest)| rest.clone())
        .expect("EXPOSE");
    assert_eq!(port_of(&settings.listen), exposed);
    let volumes = runtime
        .iter()
        .find(|(i, _)| i == "VOLUME")
        .map(|(_, rest)| rest.clone())
        .expect("VOLUME");
    assert!(
        volumes.contains(&format!("\"{}\"", settings.keys_dir.display())),
        "the keys directory is a volume: {volumes}"
    );
}

/// The build stage compiles dependencies against stand-ins before the sources are copied: it must
/// copy every workspace member's manifest and stand in for every explicitly declared target, or
/// `docker build` fails before compiling anything (cargo checks them when it loads the manifests).
#[test]
fn the_dependency_layer_covers_every_manifest_and_declared_target() {
    let dockerfile = read_repo_file("Dockerfile");
    let root: toml::Table = toml::from_str(&read_repo_file("Cargo.toml")).expect("Cargo.toml");
    let members: Vec<String> = root["workspace"]["members"]
        .as_array()
        .expect("workspace members")
        .iter()
        .map(|m| {
            m.as_str()
                .expect("a member path")
                .trim_start_matches("./")
                .to_string()
        })
        .collect();
    for member in &members {
        let dir = if member == "." || member.is_empty() {
            String::new()
        } else {
            assert!(
                dockerfile.contains(&format!("COPY {member}/Cargo.toml")),
                "the Dockerfile's dependency layer does not copy {member}/Cargo.toml"
            );
            format!("{member}/")
        };
        let manifest: toml::Table = toml::from_str(&read_repo_file(&format!("{dir}Cargo.toml")))
            .expect("a member's Cargo.toml");
        for (kind, default_dir) in [
            ("bin", "src/bin"),
            ("bench", "benches"),
            ("example", "examples"),
            ("test", "tests"),
        ] {
            for target in manifest
                .get(kind)
                .and_then(toml::Value::as_array)
                .into_iter()
                .flatten()
            {
                let path = target
                    .get("path")
                    .and_then(toml::Value::as_str)
                    .map_or_else(
                        || {
                            format!(
                                "{default_dir}/{}.rs",
                                target["name"].as_str().unwrap_or_default()
                            )
                        },
                        str::to_string,
                    );
                let path = format!("{dir}{path}");
                assert!(
                    dockerfile.contains(&format!("> {path}"))
                        || dockerfile.contains(&format!(" {path} ")),
                    "the Dockerfile's dependency layer has no stand-in for the [[{kind}]] {path}"
                );
            }
        }
    }
}

#[test]
fn the_proxy_config_exists_and_balances_over_the_tokend_service() {
    let compose = compose();
    let listen_port = port_of(&tokend_settings(&compose).listen).to_string();
    let proxy_name = service_names(&compose)
        .into_iter()
        .find(|name| !published_host_ports(service(&compose, name)).is_empty())
        .expect("a service publishes the public port");
    let config_files: Vec<String> = mounts(service(&compose, &proxy_name))
        .into_iter()
        .map(|(source, _)| source)
        .filter(|source| source.starts_with("./"))
        .collect();
    assert!(
        !config_files.is_empty(),
        "the proxy mounts its configuration from the repository"
    );
    let mut upstream_found = false;
    let mut forwards_client_address = false;
    for file in &config_files {
        assert!(
            repo_path(file).is_file(),
            "{file}, mounted into {proxy_name}, is missing"
        );
        let text = read_repo_file(file);
        for line in text
            .lines()
            .map(|l| l.split('#').next().unwrap_or_default())
        {
            let words: Vec<&str> = line
                .split_whitespace()
                .map(|w| w.trim_end_matches(';'))
                .collect();
            if words.first() == Some(&"server")
                && words.get(1) == Some(&format!("{TOKEND}:{listen_port}").as_str())
            {
                upstream_found = true;
            }
            if words.starts_with(&["proxy_set_header", "X-Forwarded-For"]) {
                forwards_client_address = true;
            }
        }
    }
    assert!(
        upstream_found,
        "the proxy config has no `server {TOKEND}:{listen_port}` upstream"
    );
    assert!(
        forwards_client_address,
        "the proxy must set X-Forwarded-For, or every client shares the proxy's rate limit"
    );
}

#[test]
fn interpolation_defaults_resolve_like_compose() {
    assert_eq!(with_defaults("a${X:-b}c"), "abc");
    assert_eq!(with_defaults("${X-b}"), "b");
    assert_eq!(with_defaults("${X:-${Y:-deep}}"), "deep");
    assert_eq!(with_defaults("$X/${Y}"), "/");
    assert_eq!(with_defaults("$$HOME"), "$HOME");
    assert_eq!(interpolated_names("${A:-x} $B $$C ${D}"), ["A", "B", "D"]);
    let ports: Value = serde_yaml_ng::from_str(
        "ports: ['8080:80', '127.0.0.1:9000:90', '3000', 5000, {target: 80, published: 81}]",
    )
    .expect("yaml");
    assert_eq!(published_host_ports(&ports), ["8080", "9000", "81"]);
}
