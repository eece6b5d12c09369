//! The API reference stays true to the code: every route registered in `src/http/` is in the
//! OpenAPI document served at `GET /openapi.json` and in `docs/api.md`, every described route is
//! answered by a handler, `docs/openapi.json` is the served document for the default issuer, and
//! `docs/api.md` names every setting of `KNOWN_SETTINGS`.
//!
//! After changing a route, regenerate the committed document with
//! `TOKEND_BLESS_OPENAPI=1 cargo test --test api openapi`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::*;

/// The issuer of a server started with default settings, as in `docs/openapi.json`.
const DEFAULT_ISSUER: &str = "http://127.0.0.1:8080";

/// The axum method routers a registration can chain.
const METHODS: [&str; 8] = [
    "get", "post", "put", "patch", "delete", "head", "options", "trace",
];

/// A route: its path template and a lower-case method.
type Route = (String, String);

fn repository() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

async fn served_document(app: &TestApp) -> Value {
    let r = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

/// Every (path, method) the document describes.
fn described_routes(doc: &Value) -> BTreeSet<Route> {
    let paths = doc["paths"].as_object().expect("paths is an object");
    paths
        .iter()
        .flat_map(|(path, item)| {
            let item = item.as_object().expect("a path item is an object");
            item.keys()
                .filter(|k| METHODS.contains(&k.as_str()))
                .map(|method| (path.clone(), method.clone()))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Every (path, method) registered with `.route("PATH", METHOD(…)…)` in `src/http/`.
fn registered_routes() -> BTreeSet<Route> {
    let mut files = Vec::new();
    rust_files(&repository().join("src/http"), &mut files);
    let mut routes = BTreeSet::new();
    for file in files {
        let code = without_comments(&std::fs::read_to_string(&file).unwrap());
        assert!(
            !code.contains(".nest("),
            "{}: nested routers prefix paths, which this scan does not follow",
            file.display()
        );
        routes.extend(routes_in(&code, &file));
    }
    routes
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code with `//` and `/* */` comments blanked out, string and char literals kept, so a
/// registration quoted in a doc comment is not taken for a real one.
fn without_comments(code: &str) -> String {
    let chars: Vec<char> = code.chars().collect();
    let mut out = String::with_capacity(code.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            out.push(' ');
        } else if c == '"' {
            let start = i;
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            out.extend(&chars[start..i.min(chars.len())]);
        } else if c == '\'' && (next == Some('\\') || chars.get(i + 2) == Some(&'\'')) {
            // A char literal ('"', '\'', 'x'); a lifetime has no closing quote two chars on.
            let start = i;
            i += 2;
            while i < chars.len() && chars[i] != '\'' {
                i += 1;
            }
            i += 1;
            out.extend(&chars[start..i.min(chars.len())]);
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// The registrations in one file: `.route("PATH", get(a).post(b))`, over any number of lines.
fn routes_in(code: &str, file: &Path) -> Vec<Route> {
    let mut found = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find(".route(") {
        rest = &rest[at + ".route(".len()..];
        let args = rest.trim_start();
        let literal = args
            .strip_prefix('"')
            .and_then(|a| a.find('"').map(|end| (&a[..end], &a[end + 1..])));
        let Some((path, after)) = literal else {
            panic!(
                "{}: a route whose path is not a string literal: {}",
                file.display(),
                &args[..args.len().min(60)]
            );
        };
        let mut chain = after.trim_start().strip_prefix(',').unwrap_or(after);
        let before = found.len();
        loop {
            chain = chain.trim_start();
            let len = chain
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .unwrap_or(chain.len());
            let name = chain[..len].rsplit("::").next().unwrap_or_default();
            chain = chain[len..].trim_start();
            if !chain.starts_with('(') {
                break;
            }
            if METHODS.contains(&name) {
                found.push((path.to_string(), name.to_string()));
            }
            chain = after_parentheses(chain);
            match chain.trim_start().strip_prefix('.') {
                Some(more) => chain = more,
                None => break,
            }
        }
        assert!(
            found.len() > before,
            "{}: no method router found for {path:?}",
            file.display()
        );
    }
    found
}

/// What follows the parenthesised group `text` starts with.
fn after_parentheses(text: &str) -> &str {
    let mut depth = 0;
    let mut in_string = false;
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_string => escaped = true,
            '"' => in_string = !in_string,
            '(' if !in_string => depth += 1,
            ')' if !in_string => {
                depth -= 1;
                if depth == 0 {
                    return &text[i + 1..];
                }
            }
            _ => {}
        }
    }
    ""
}

/// `path` with every `{param}` replaced by a fresh UUID.
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            if segment.starts_with('{') && segment.ends_with('}') {
                uuid::Uuid::new_v4().to_string()
            } else {
                segment.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[test]
fn the_source_scan_reads_chained_and_multi_line_registrations() {
    let code = without_comments(
        "// .route(\"/commented\", get(x))\n\
         Router::new().route(\"/a\", post(a))\n\
         .route(\n  \"/b/{id}\",\n  get(b::get).patch(b::patch)\n    .delete(axum::routing::delete(c)),\n)\n\
         /* .route(\"/blocked\", get(y)) */ .route(\"/c\", get(|| async { \"(\" }))",
    );
    let routes = routes_in(&code, Path::new("example.rs"));
    let expected: Vec<Route> = [
        ("/a", "post"),
        ("/b/{id}", "get"),
        ("/b/{id}", "patch"),
        ("/b/{id}", "delete"),
        ("/c", "get"),
    ]
    .iter()
    .map(|(p, m)| (p.to_string(), m.to_string()))
    .collect();
    assert_eq!(routes, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_registered_route_is_described_and_every_described_one_is_served() {
    // Passkeys on, so their routes answer rather than 404 as they do while the feature is off.
    let app = spawn_app_with(
        Backend::Sqlite,
        &[
            ("TOKEND_WEBAUTHN_RP_ID", "example.com"),
            ("TOKEND_WEBAUTHN_ORIGINS", "https://example.com"),
        ],
    )
    .await;
    let doc = served_document(&app).await;
    let registered = registered_routes();
    assert!(
        registered.len() >= 25,
        "the scan of src/http/ found too few routes: {registered:?}"
    );
    let described = described_routes(&doc);
    let undescribed: Vec<_> = registered.difference(&described).collect();
    assert!(
        undescribed.is_empty(),
        "registered in src/http/ but missing from the OpenAPI document (src/http/openapi/): {undescribed:?}"
    );
    let unregistered: Vec<_> = described.difference(&registered).collect();
    assert!(
        unregistered.is_empty(),
        "in the OpenAPI document but registered nowhere in src/http/: {unregistered:?}"
    );
    // The running server agrees: without credentials or a body, each described route is answered
    // by its handler (401, 415, 200, …), never by the unknown-route or wrong-method fallbacks.
    for (path, method) in &described {
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let r = app
            .client
            .request(method.clone(), app.url(&concrete(path)))
            .send()
            .await
            .unwrap();
        assert!(
            r.status() != StatusCode::NOT_FOUND && r.status() != StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path} answered {}",
            r.status()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_is_well_formed() {
    let app = spawn_app(Backend::Sqlite).await;
    let doc = served_document(&app).await;
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["servers"], json!([{"url": "http://tokend.test"}]));
    // Every reference resolves.
    let mut refs = Vec::new();
    collect_refs(&doc, &mut refs);
    assert!(refs.len() > 50, "{refs:?}");
    for r in &refs {
        let pointer = r.strip_prefix('#').expect("local reference");
        assert!(doc.pointer(pointer).is_some(), "dangling $ref {r}");
    }
    // Every operation has a unique id, a summary, a tag and at least one success answer.
    let mut ids = BTreeSet::new();
    for (path, method) in described_routes(&doc) {
        let op = &doc["paths"][&path][&method];
        let id = op["operationId"].as_str().expect("operationId");
        assert!(ids.insert(id.to_string()), "duplicate operationId {id}");
        assert!(op["summary"].is_string(), "{method} {path}: summary");
        assert!(op["tags"][0].is_string(), "{method} {path}: tag");
        let responses = op["responses"].as_object().expect("responses");
        assert!(
            responses.keys().any(|status| status.starts_with('2')),
            "{method} {path}: no 2xx answer"
        );
    }
}

fn collect_refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                match (key.as_str(), v) {
                    ("$ref", Value::String(r)) => out.push(r.clone()),
                    _ => collect_refs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_committed_document_is_the_served_one() {
    let app = spawn_app(Backend::Sqlite).await;
    let mut doc = served_document(&app).await;
    doc["servers"] = json!([{ "url": DEFAULT_ISSUER }]);
    assert_eq!(doc, tokend::http::openapi::document(DEFAULT_ISSUER));
    let text = format!("{}\n", serde_json::to_string_pretty(&doc).unwrap());
    let file = repository().join("docs/openapi.json");
    if std::env::var_os("TOKEND_BLESS_OPENAPI").is_some() {
        std::fs::write(&file, &text).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&file).unwrap_or_default();
    let parsed: Value = serde_json::from_str(&committed).unwrap_or(Value::Null);
    assert!(
        parsed == doc && committed.ends_with('\n'),
        "docs/openapi.json is stale; regenerate it with \
         `TOKEND_BLESS_OPENAPI=1 cargo test --test api openapi`"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reference_names_every_route() {
    let app = spawn_app(Backend::Sqlite).await;
    let doc = served_document(&app).await;
    let reference = std::fs::read_to_string(repository().join("docs/api.md")).unwrap();
    let mut routes = described_routes(&doc);
    routes.extend(registered_routes());
    let missing: Vec<String> = routes
        .iter()
        .map(|(path, method)| format!("{} {path}", method.to_uppercase()))
        .filter(|route| !reference.contains(route.as_str()))
        .collect();
    assert!(missing.is_empty(), "docs/api.md never names {missing:?}");
}

#[test]
fn the_reference_names_every_setting() {
    let reference = std::fs::read_to_string(repository().join("docs/api.md")).unwrap();
    let missing: Vec<&str> = tokend::config::KNOWN_SETTINGS
        .iter()
        .filter(|setting| !reference.contains(&format!("`{setting}`")))
        .copied()
        .collect();
    assert!(
        missing.is_empty(),
        "the settings table of docs/api.md never names {missing:?}"
    );
}
