//! Every walk-through in README.md and docs/*.md, run the way a newcomer pastes it into a shell,
//! so the documentation cannot rot.
//!
//! The convention, for whoever writes documentation:
//!
//! - Fenced blocks tagged ```` ```sh ```` or ```` ```bash ```` are run, in document order, all
//!   blocks of one document in ONE `bash -Eeuo pipefail` process: a variable set in step 1 is
//!   there in step 2. Any failing command fails this test, which prints the block, what it wrote
//!   and the server's log. Make commands fail when they do not work: `curl --fail-with-body`
//!   for calls that must succeed, `jq -e` where a value must be there.
//! - Every other block (```` ```console ````, ```` ```text ````, ```` ```rust ````,
//!   ```` ```toml ````, ```` ```json ````, ```` ```sql ````, an untagged fence) is shown, not run.
//!   Tag as ```` ```console ```` the commands CI cannot run (Docker, a PostgreSQL server,
//!   `qrencode`, release builds, the test suite itself).
//! - The reader has the server of the README's quick start running in another terminal; each
//!   document gets the same here: a fresh `tokend serve` (the binary under test) in a fresh
//!   temporary directory, with its own SQLite database and keys directory, started before the
//!   document's first block and stopped after its last. A block that starts a server itself (a
//!   line ending in `serve` that is not backgrounded with `&`, or `docker compose up`) is
//!   therefore skipped whole; that is how the quick start's `cargo run --release -- serve`
//!   reads naturally and still never blocks CI.
//! - Documents reach the server at `$TOKEND`, written `TOKEND=${TOKEND:-http://127.0.0.1:8080}`
//!   (the quick start's address) before first use; the runner exports `TOKEND` with the fresh
//!   server's address, so documents run in parallel on free ports.
//! - `tokend` is on `PATH`, as after the README's `export PATH="$PWD/target/release:$PATH"`: the
//!   runner links the binary under test at `target/release/tokend` in the document's directory
//!   and puts that directory first on `PATH`, and replaces `cargo run --release --` with the
//!   binary. Any other `cargo` command in a block that is run fails the test (it would compile
//!   in release mode, or run this suite inside itself).
//! - Settings come from the environment, as for the quick start's server: `TOKEND_DATABASE_URL`,
//!   `TOKEND_KEYS_DIR`, `TOKEND_LISTEN`, `TOKEND_ISSUER` and a cheap argon2 cost; every other
//!   `TOKEND*` variable of the calling environment is removed. `curl`, `jq` and `python3` come
//!   from the machine (`.ci/run` installs them when missing).
//! - So each document sets up what it needs itself (its own user, account, tokens), with logins
//!   no other document uses: a reader may follow them all against one server.
//!
//! `WALKTHROUGHS_VERBOSE=1 cargo test --test api walkthroughs -- --nocapture` also shows what
//! every document printed when it passes.

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Component, Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::restart::free_port;

const BINARY: &str = env!("CARGO_BIN_EXE_tokend");
const REPO: &str = env!("CARGO_MANIFEST_DIR");
/// A document's blocks together may take this long (the MFA walk-through waits for fresh TOTP
/// codes, up to a minute).
const DOCUMENT_TIMEOUT: Duration = Duration::from_secs(300);
const MARKER: &str = "@@walkthrough";

/// A fenced code block.
#[derive(Debug, Clone, PartialEq)]
struct Block {
    /// The first word of the info string, lower case (`sh`, `console`, ...).
    lang: String,
    /// 1-based line of the block's first content line in its document.
    line: usize,
    text: String,
}

/// The fenced blocks of a Markdown document (CommonMark fences, also indented ones in lists).
fn fenced_blocks(markdown: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut open: Option<(char, usize, usize, Block)> = None;
    for (index, line) in markdown.lines().enumerate() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        match open.take() {
            None => {
                let Some(fence) = trimmed.chars().next().filter(|c| *c == '`' || *c == '~') else {
                    continue;
                };
                let run = trimmed.chars().take_while(|c| *c == fence).count();
                if run < 3 {
                    continue;
                }
                let lang = trimmed[run..]
                    .split(|c: char| c.is_whitespace() || c == ',' || c == '{')
                    .next()
                    .unwrap_or_default()
                    .to_ascii_lowercase();
                let block = Block {
                    lang,
                    line: index + 2,
                    text: String::new(),
                };
                open = Some((fence, run, indent, block));
            }
            Some((fence, run, indent_of_fence, mut block)) => {
                let closing = trimmed.chars().take_while(|c| *c == fence).count();
                if closing >= run && trimmed[closing..].trim().is_empty() {
                    blocks.push(block);
                    continue;
                }
                let strip = indent.min(indent_of_fence);
                block.text.push_str(&line[strip..]);
                block.text.push('\n');
                open = Some((fence, run, indent_of_fence, block));
            }
        }
    }
    blocks
}

/// A line without its shell comment (a `#` at the start of a word, outside quotes).
fn without_comment(line: &str) -> &str {
    let (mut single, mut double, mut previous) = (false, false, ' ');
    for (i, c) in line.char_indices() {
        match c {
            '\'' if !double => single = !single,
            '"' if !single && previous != '\\' => double = !double,
            '#' if !single && !double && previous.is_whitespace() => return &line[..i],
            _ => {}
        }
        previous = c;
    }
    line
}

/// Whether a block starts a server in the foreground (which the runner has done already).
fn starts_a_server(text: &str) -> bool {
    text.lines().map(|l| without_comment(l).trim()).any(|code| {
        let backgrounded = code.ends_with('&') && !code.ends_with("&&");
        let serve = code.split_whitespace().last() == Some("serve");
        (serve && !backgrounded)
            || code.contains("docker compose up")
            || code.contains("docker-compose up")
    })
}

fn runnable(block: &Block) -> bool {
    matches!(block.lang.as_str(), "sh" | "bash") && !starts_a_server(&block.text)
}

/// `'…'` for the shell.
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The blocks to run, with `cargo run --release --` replaced by the binary under test; an error
/// names a block that would still call cargo.
fn prepared(doc: &str, blocks: &[Block]) -> Result<Vec<Block>, String> {
    let binary = shell_quote(BINARY);
    blocks
        .iter()
        .filter(|b| runnable(b))
        .map(|b| {
            let text = b.text.replace("cargo run --release --", &binary);
            for (offset, line) in text.lines().enumerate() {
                if without_comment(line)
                    .split_whitespace()
                    .any(|word| word == "cargo")
                {
                    return Err(format!(
                        "{doc}:{}: a ```{} block that is run calls cargo ({}); use `tokend`, \
                         or tag the block ```console if it is not meant to run",
                        b.line + offset,
                        b.lang,
                        line.trim()
                    ));
                }
            }
            Ok(Block { text, ..b.clone() })
        })
        .collect()
}

/// The script for one document, and for each of its lines the block and document line it came
/// from.
fn script(blocks: &[Block]) -> (String, Vec<Option<(usize, usize)>>) {
    let mut text = String::from(
        "set -Eeuo pipefail\n\
         trap 'rc=$?; printf \"\\n@@walkthrough failed: exit %s at script line %s: %s\\n\" \"$rc\" \"$LINENO\" \"$BASH_COMMAND\" >&2' ERR\n",
    );
    let mut origin = vec![None, None];
    for (n, block) in blocks.iter().enumerate() {
        let marker = format!("printf '\\n{MARKER} block {n}\\n'");
        text.push_str(&format!("{marker}; {marker} >&2\n"));
        origin.push(None);
        for (offset, line) in block.text.lines().enumerate() {
            text.push_str(line);
            text.push('\n');
            origin.push(Some((n, block.line + offset)));
        }
    }
    (text, origin)
}

/// The part of a captured stream that `block` wrote.
fn section(output: &str, block: usize) -> &str {
    let start = format!("{MARKER} block {block}\n");
    let Some(at) = output.find(&start) else {
        return "";
    };
    let rest = &output[at + start.len()..];
    let end = rest
        .find(&format!("{MARKER} block {}\n", block + 1))
        .unwrap_or(rest.len());
    &rest[..end]
}

/// The last block that started, from the markers in a captured stream.
fn last_started_block(output: &str) -> Option<usize> {
    let marker = format!("{MARKER} block ");
    output
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix(&marker)?.trim().parse().ok())
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// `GET /readyz`: the signing kid if the server answered 200.
fn ready_kid(port: u16) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    stream
        .write_all(b"GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    if !answer.starts_with("HTTP/1.1 200") {
        return None;
    }
    let after = answer.split("\"signing_kid\":\"").nth(1)?;
    Some(after.split('"').next()?.to_string())
}

/// Sends SIGTERM to a process (or with a negative id, a process group) this test started.
fn terminate(id: i64) {
    let _ = Command::new("kill")
        .args(["-TERM", "--", &id.to_string()])
        .stderr(Stdio::null())
        .status();
}

/// A `tokend serve` of one document, stopped when dropped.
struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        terminate(i64::from(self.child.id()));
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A document's world: its directory, environment and server.
struct World {
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
}

impl World {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("target").join("release");
        fs::create_dir_all(&bin).unwrap();
        std::os::unix::fs::symlink(BINARY, bin.join("tokend")).unwrap();
        let mut env: Vec<(String, String)> = std::env::vars()
            .filter(|(k, _)| !k.starts_with("TOKEND"))
            .collect();
        env.retain(|(k, _)| k != "PATH");
        let path = std::env::var("PATH").unwrap_or_default();
        env.push(("PATH".into(), format!("{}:{path}", bin.display())));
        let d = dir.path();
        env.extend(
            [
                (
                    "TOKEND_DATABASE_URL",
                    format!("sqlite://{}", d.join("tokend.db").display()),
                ),
                ("TOKEND_KEYS_DIR", d.join("keys").display().to_string()),
                ("TOKEND_ARGON2_M_COST", "256".into()),
                ("TOKEND_ARGON2_T_COST", "1".into()),
                ("NO_COLOR", "1".into()),
            ]
            .map(|(k, v)| (k.to_string(), v)),
        );
        Self { dir, env }
    }

    fn command(&self, program: &str, port: u16) -> Command {
        let mut c = Command::new(program);
        c.current_dir(self.dir.path())
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .env("TOKEND_LISTEN", format!("127.0.0.1:{port}"))
            .env("TOKEND_ISSUER", format!("http://127.0.0.1:{port}"))
            .env("TOKEND", format!("http://127.0.0.1:{port}"));
        c
    }

    fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// Starts `tokend serve` on a free port and waits until it, and not some other process on
    /// that port, is ready.
    fn serve(&self) -> Result<Server, String> {
        for _ in 0..3 {
            let port = free_port();
            let log = fs::File::create(self.dir.path().join("server.log")).unwrap();
            let child = self
                .command(BINARY, port)
                .arg("serve")
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .unwrap();
            let mut server = Server { child, port };
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = server.child.try_wait() {
                    break; // e.g. the port was taken meanwhile: try another
                }
                if let Some(kid) = ready_kid(port) {
                    let ours = self.dir.path().join("keys").join(format!("{kid}.pem"));
                    if ours.exists() {
                        return Ok(server);
                    }
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            drop(server);
        }
        Err(format!(
            "tokend serve did not become ready:\n{}",
            tail(&self.log(), 40)
        ))
    }
}

/// Runs the blocks of one document; an error says which block failed and why, and with
/// `keep_on_failure` where the script, database and logs were left for a look.
fn run_document(doc: &str, blocks: &[Block], keep_on_failure: bool) -> Result<(), String> {
    let world = World::new();
    let server = world.serve().map_err(|e| format!("{doc}: {e}"))?;
    let (text, origin) = script(blocks);
    let script_path = world.dir.path().join("walkthrough.sh");
    fs::write(&script_path, &text).unwrap();
    let stdout_path = world.dir.path().join("walkthrough.out");
    let stderr_path = world.dir.path().join("walkthrough.err");
    let mut command = world.command("bash", server.port);
    command
        .args(["-E", "-e", "-u", "-o", "pipefail"])
        .arg(&script_path)
        .stdin(Stdio::null())
        .stdout(fs::File::create(&stdout_path).unwrap())
        .stderr(fs::File::create(&stderr_path).unwrap());
    // Its own process group, so whatever a block starts in the background can be ended with it.
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let mut bash = command.spawn().unwrap();
    let group = -i64::from(bash.id());
    let deadline = Instant::now() + DOCUMENT_TIMEOUT;
    let status = loop {
        if let Some(status) = bash.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    // Whatever a block left running in the background ends with the document.
    terminate(group);
    if status.is_none() {
        let _ = bash.kill();
        let _ = bash.wait();
    }
    let stdout = fs::read_to_string(&stdout_path).unwrap_or_default();
    let stderr = fs::read_to_string(&stderr_path).unwrap_or_default();
    if status.is_some_and(|s| s.success()) {
        if std::env::var_os("WALKTHROUGHS_VERBOSE").is_some() {
            eprintln!("===== {doc}: stdout =====\n{stdout}\n===== {doc}: stderr =====\n{stderr}");
        }
        return Ok(());
    }
    let failed = last_started_block(&stderr).unwrap_or(0);
    let block = &blocks[failed];
    // Where it failed: the ERR trap's line, or bash's own "walkthrough.sh: line N: …" (an unset
    // variable, a syntax error), as a line of the document.
    let doc_line = |script_line: &str| {
        let n: usize = script_line.trim().parse().ok()?;
        origin.get(n.checked_sub(1)?).copied().flatten()
    };
    let trapped = stderr.lines().find_map(|l| {
        let what = l.strip_prefix(&format!("{MARKER} failed: "))?;
        let (_, line) = doc_line(what.split("script line ").nth(1)?.split(':').next()?)?;
        Some(format!("{doc}:{line}: {what}"))
    });
    let reported = || {
        stderr.lines().find_map(|l| {
            let (_, rest) = l.split_once("walkthrough.sh: line ")?;
            let (number, message) = rest.split_once(':')?;
            let (_, line) = doc_line(number)?;
            Some(format!("{doc}:{line}:{message}"))
        })
    };
    let at = trapped.or_else(reported).unwrap_or_else(|| match status {
        None => format!("timed out after {DOCUMENT_TIMEOUT:?}"),
        Some(s) => format!("bash ended with {s}"),
    });
    drop(server);
    let log = tail(&world.log(), 30);
    let kept = if keep_on_failure {
        format!(
            "script, database and logs kept in {}",
            world.dir.keep().display()
        )
    } else {
        String::from("temporary files removed")
    };
    Err(format!(
        "{doc}: the ```{} block at line {} failed\n{at}\n\
         --- block ---\n{}--- its stdout ---\n{}\n--- its stderr ---\n{}\n\
         --- server log (last 30 lines) ---\n{log}\n--- {kept} ---",
        block.lang,
        block.line,
        block.text,
        section(&stdout, failed).trim_end(),
        section(&stderr, failed).trim_end(),
    ))
}

/// README.md and every docs/*.md, by path relative to the repository.
fn documents() -> Vec<String> {
    let mut docs: Vec<String> = fs::read_dir(Path::new(REPO).join("docs"))
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|name| name.ends_with(".md"))
                .map(|name| format!("docs/{name}"))
                .collect()
        })
        .unwrap_or_default();
    docs.sort();
    docs.insert(0, "README.md".to_string());
    docs
}

#[test]
fn every_walkthrough_runs_against_a_fresh_server() {
    let mut runs = Vec::new();
    let mut failures = Vec::new();
    for doc in documents() {
        let markdown = fs::read_to_string(Path::new(REPO).join(&doc)).unwrap();
        let blocks = match prepared(&doc, &fenced_blocks(&markdown)) {
            Ok(blocks) => blocks,
            Err(e) => {
                failures.push(e);
                continue;
            }
        };
        if blocks.is_empty() {
            continue;
        }
        eprintln!("walkthroughs: {doc}: {} blocks", blocks.len());
        runs.push((
            doc.clone(),
            std::thread::spawn(move || run_document(&doc, &blocks, true)),
        ));
    }
    assert!(
        runs.iter().any(|(doc, _)| doc == "README.md"),
        "the README's walk-through is no longer run: are its blocks still tagged ```sh?"
    );
    for (doc, run) in runs {
        match run.join() {
            Ok(Ok(())) => eprintln!("walkthroughs: {doc}: ok"),
            Ok(Err(e)) => failures.push(e),
            Err(_) => failures.push(format!("{doc}: the runner panicked")),
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n\n"));
}

/// Relative links of README.md stay inside the repository, and those of docs/*.md inside docs/
/// (the guides are read on their own, where the source tree is not there to follow); every
/// target exists.
#[test]
fn doc_links_stay_inside_the_repository() {
    let root = Path::new(REPO);
    let mut escaping = Vec::new();
    for doc in documents() {
        let markdown = fs::read_to_string(root.join(&doc)).unwrap();
        let base = root.join(&doc).parent().unwrap().to_path_buf();
        for target in markdown
            .split("](")
            .skip(1)
            .filter_map(|s| s.split(')').next())
        {
            let target = target.split_whitespace().next().unwrap_or_default();
            if target.contains("://") || target.starts_with('#') || target.starts_with("mailto:") {
                continue;
            }
            let path = target.split('#').next().unwrap_or_default();
            let mut resolved = PathBuf::new();
            for part in base.join(path).components() {
                match part {
                    Component::ParentDir => {
                        resolved.pop();
                    }
                    Component::CurDir => {}
                    other => resolved.push(other),
                }
            }
            let allowed = if doc.starts_with("docs/") {
                root.join("docs")
            } else {
                root.to_path_buf()
            };
            if !resolved.starts_with(&allowed) || !resolved.exists() {
                escaping.push(format!("{doc}: ({target})"));
            }
        }
    }
    assert!(
        escaping.is_empty(),
        "links outside the repository:\n{}",
        escaping.join("\n")
    );
}

#[test]
fn blocks_are_found_tagged_and_screened() {
    let doc = "intro\n```sh\nA=1\n```\n\n  ```bash title\n  echo \"$A\"  # step 2\n  ```\n\
               ```console\n$ docker compose up\n```\n```sh\ncargo run --release -- serve   # start\n```\n\
               ```sh\ncargo run --release -- keys list\ntokend serve &\n```\n";
    let blocks = fenced_blocks(doc);
    let langs: Vec<&str> = blocks.iter().map(|b| b.lang.as_str()).collect();
    assert_eq!(langs, ["sh", "bash", "console", "sh", "sh"]);
    assert_eq!(
        (blocks[1].line, blocks[1].text.as_str()),
        (7, "echo \"$A\"  # step 2\n")
    );
    assert!(starts_a_server(&blocks[3].text), "foreground serve");
    assert!(!starts_a_server(&blocks[4].text), "backgrounded serve");
    let run = prepared("doc.md", &blocks).unwrap();
    assert_eq!(run.len(), 3);
    assert!(run[2].text.starts_with(&shell_quote(BINARY)));
    let cargo = [Block {
        lang: "sh".into(),
        line: 3,
        text: "echo '#'; cargo test\n".into(),
    }];
    assert!(prepared("doc.md", &cargo).unwrap_err().contains("doc.md:3"));
    assert_eq!(without_comment("curl \"a#b\" # c"), "curl \"a#b\" ");
}

#[test]
fn a_failing_command_is_reported_with_its_document_line() {
    let block = |line, text: &str| Block {
        lang: "sh".into(),
        line,
        text: text.into(),
    };
    let blocks = [
        block(10, "A=1\n"),
        block(
            20,
            "echo \"before $A\"\ncurl -sS --fail-with-body \"$TOKEND/v1/me\"\necho after\n",
        ),
    ];
    let e = run_document("doc.md", &blocks, false).unwrap_err();
    assert!(e.contains("the ```sh block at line 20 failed"), "{e}");
    assert!(e.contains("doc.md:21: exit 22"), "{e}");
    assert!(
        e.contains("--- its stdout ---\nbefore 1\n{\"error\""),
        "{e}"
    );
    assert!(e.contains("unauthorized"), "the error body is shown: {e}");

    let e = run_document("doc.md", &[block(5, "true\necho \"$UNSET\"\n")], false).unwrap_err();
    assert!(e.contains("doc.md:6: UNSET: unbound variable"), "{e}");
}
