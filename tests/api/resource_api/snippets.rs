//! The Python (PyJWT) and Node (jose) snippets of docs/resource-apis.md, run as they are
//! printed against a live tokend, with tokens signed by Ed25519 and by ES256 keys, so the
//! documentation cannot rot. The libraries are installed from the registries once per target
//! directory (`pip install --target`, `npm install --prefix`), as the document says. The Go
//! snippet is not run: there is no Go toolchain here.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::{json, Value};
use tokend::clock::Clock;
use tokend::crypto::keys::{generate_key, KeyAlg, ACTIVATION_DELAY};

use crate::helpers::*;

const DOC: &str = include_str!("../../../docs/resource-apis.md");
/// What the document tells readers to install; checked to be in it.
const PIP_SPEC: &str = "pyjwt[crypto]>=2.15";
const NPM_SPEC: &str = "jose@6";

/// The first fenced block of `DOC` tagged `lang`.
fn block(lang: &str) -> String {
    let fence = format!("```{lang}\n");
    let start = DOC
        .find(&fence)
        .unwrap_or_else(|| panic!("no ```{lang} block"))
        + fence.len();
    let end = DOC[start..].find("\n```").unwrap() + start;
    format!("{}\n", &DOC[start..end])
}

/// Runs `program args` with a deadline; (exit success, stdout, stderr).
async fn run(
    program: &str,
    args: &[&str],
    envs: &[(&str, &str)],
    cwd: &Path,
) -> (bool, String, String) {
    let mut command = tokio::process::Command::new(program);
    command
        .args(args)
        .envs(envs.iter().copied())
        .current_dir(cwd)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(300), command.output())
        .await
        .unwrap_or_else(|_| panic!("{program} {args:?} timed out"))
        .unwrap_or_else(|e| panic!("{program} could not start: {e}"));
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// `dir`, filled by `install(tmp)` unless an earlier run did; the rename makes it all or nothing.
async fn installed(dir: PathBuf, what: &str, program: &str, args: &[&str]) -> PathBuf {
    if dir.join(".installed").exists() {
        return dir;
    }
    let tmp = dir.with_extension(format!("tmp{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).unwrap();
    let tmp_text = tmp.display().to_string();
    let args: Vec<&str> = args
        .iter()
        .map(|a| if *a == "{dir}" { tmp_text.as_str() } else { a })
        .collect();
    let (ok, out, err) = run(program, &args, &[], &tmp).await;
    assert!(
        ok,
        "installing {what} failed (the package registries must be reachable):\n{out}\n{err}"
    );
    std::fs::write(tmp.join(".installed"), what).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::rename(&tmp, &dir).unwrap();
    dir
}

/// One snippet, ready to run: (name, program, args before the token, environment extras).
struct Snippet {
    name: &'static str,
    program: &'static str,
    script: PathBuf,
    env: Vec<(&'static str, String)>,
}

impl Snippet {
    async fn check(&self, issuer: &str, token: &str) -> Result<Value, String> {
        let script = self.script.display().to_string();
        let mut env: Vec<(&str, &str)> = self.env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        env.extend([("TOKEND_ISSUER", issuer), ("PHOTOS_API_AUDIENCE", "tokend")]);
        let (ok, out, err) = run(
            self.program,
            &[&script, token],
            &env,
            self.script.parent().unwrap(),
        )
        .await;
        assert!(
            !out.contains(token) && !err.contains(token),
            "{}: the token was echoed",
            self.name
        );
        if ok {
            Ok(serde_json::from_str(out.trim())
                .unwrap_or_else(|e| panic!("{}: {e}: {out}", self.name)))
        } else {
            assert!(
                err.contains("refused"),
                "{}: crashed rather than refused:\n{err}",
                self.name
            );
            Err(err)
        }
    }
}

async fn snippets() -> Vec<Snippet> {
    assert!(
        DOC.contains(&format!("\"{PIP_SPEC}\"")) && DOC.contains(NPM_SPEC),
        "install lines changed"
    );
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("resource-api-snippets");
    std::fs::create_dir_all(&cache).unwrap();
    let pip = [
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--target",
        "{dir}",
        PIP_SPEC,
    ];
    let python = installed(cache.join("python"), PIP_SPEC, "python3", &pip).await;
    let npm = [
        "install",
        "--silent",
        "--no-audit",
        "--no-fund",
        "--prefix",
        "{dir}",
        NPM_SPEC,
    ];
    let node = installed(cache.join("node"), NPM_SPEC, "npm", &npm).await;
    // Next to node_modules, where an ES module finds its imports.
    let node_script = node.join("verify-tokend.mjs");
    std::fs::write(&node_script, block("js")).unwrap();
    let python_script = cache.join("verify_tokend.py");
    std::fs::write(&python_script, block("python")).unwrap();
    vec![
        Snippet {
            name: "python",
            program: "python3",
            script: python_script,
            env: vec![("PYTHONPATH", python.display().to_string())],
        },
        Snippet {
            name: "node",
            program: "node",
            script: node_script,
            env: vec![],
        },
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_and_node_snippets_verify_a_live_tokends_tokens() {
    let snippets = snippets().await;
    let app = spawn_app_live_issuer(Backend::Sqlite, &[]).await;
    let issuer = app.base.clone();
    let owner = app.seed_user("snippets@example.com", "owner").await;
    let (eddsa, refresh) = app.access_token(&owner).await;
    let viewer = app.seed_user("snippets-viewer@example.com", "viewer").await;
    let (viewer_token, _) = app.access_token(&viewer).await;

    // Refused: altered, for another audience, expired, not a JWT.
    let (signed, signature) = eddsa.rsplit_once('.').unwrap();
    let altered = format!(
        "{signed}.{}{}",
        if signature.starts_with('A') { "B" } else { "A" },
        &signature[1..]
    );
    let billing = "https://billing.example.com";
    app.state
        .add_resource_server("Billing", Some(billing))
        .await
        .unwrap();
    let r = app
        .post(
            "/v1/auth/token",
            json!({"refresh_token": refresh, "account_uuid": owner.account, "resource": billing}),
        )
        .await;
    let other_audience = r.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let claims = app
        .state
        .access_tokens
        .verify(&eddsa, app.clock.now())
        .unwrap();
    let grant = tokend::crypto::jwt::AccessGrant {
        user: owner.user,
        session: claims.sid.as_deref().unwrap().parse().unwrap(),
        account: owner.account,
        client_id: "tokend",
        scope: "photos:read",
        audience: None,
        dpop_jkt: None,
    };
    let (expired, _) = app
        .state
        .access_tokens
        .issue(&grant, app.clock.now() - 3_600)
        .unwrap();

    // An ES256 key that signs at once (created ACTIVATION_DELAY ago), as after a rotation.
    let keys_dir = app.dir.path().join("keys");
    let es256_kid =
        generate_key(&keys_dir, KeyAlg::Es256, app.clock.now() - ACTIVATION_DELAY).unwrap();
    assert!(app.state.access_tokens.reload(&keys_dir).unwrap());
    let (es256, _) = app.access_token(&owner).await;
    assert_eq!(
        jsonwebtoken::decode_header(&es256).unwrap().kid,
        Some(es256_kid)
    );

    for snippet in &snippets {
        let name = snippet.name;
        for (alg, token) in [("EdDSA", &eddsa), ("ES256", &es256)] {
            let out = snippet
                .check(&issuer, token)
                .await
                .unwrap_or_else(|e| panic!("{name} {alg}: {e}"));
            assert_eq!(
                out["account_uuid"],
                owner.account.to_string(),
                "{name} {alg}"
            );
            assert_eq!(out["sub"], owner.user.to_string(), "{name} {alg}");
            assert_eq!(
                (out["service"].as_bool(), out["can_delete_photos"].as_bool()),
                (Some(false), Some(true)),
                "{name}"
            );
        }
        let out = snippet.check(&issuer, &viewer_token).await.unwrap();
        assert_eq!(
            out["can_delete_photos"], false,
            "{name}: viewers may not delete"
        );
        for (what, token) in [
            ("altered", &altered),
            ("other audience", &other_audience),
            ("expired", &expired),
        ] {
            assert!(
                snippet.check(&issuer, token).await.is_err(),
                "{name} accepted an {what} token"
            );
        }
        assert!(
            snippet.check(&issuer, "not-a-jwt").await.is_err(),
            "{name} accepted garbage"
        );
    }
}
