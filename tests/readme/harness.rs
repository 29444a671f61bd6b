//! The README harness: runs the shell blocks of a markdown file in order, as a newcomer
//! following it would, and fails on the first one that does not do what the text says.
//!
//! # What it runs
//!
//! Every fenced block whose language is `sh` or `bash`, in order, in **one** bash session
//! (`set -euo pipefail`), as a user's terminal: variables (exported or not), functions and
//! the working directory carry from one block to the next. The session starts in a fresh
//! temporary directory that holds a symbolic link to each top-level entry of the repository
//! (so `simulators/wechat/fixtures/...` and `./paygate-data` mean what they mean in a fresh
//! clone, and nothing is written into the checkout), with `HOME` in a temporary directory
//! and only `PATH` inherited from the environment. A block fails when a command in it
//! fails, when it runs longer than a minute, when it prints a JSON document with a
//! top-level `error` member (an API error answer: `curl -s` exits 0 on a 401) and no
//! annotation expects one, or when an annotation's expectation does not hold.
//!
//! # The substitutions it makes (and only these)
//!
//! - **Ports.** Every `localhost:PORT` and `127.0.0.1:PORT` in a block or an annotation is
//!   rewritten to a free port chosen for the run (one per README port), so runs can go on
//!   in parallel; paygate's own default (8080, which `paygate serve` does not name) is set
//!   through `PAYGATE_LISTEN`.
//! - **A cache.** The caller may add environment variables (`Setup::env`); the README's
//!   run sets `PAYGATE_CACHE_DIR` to the compiled-adapter cache the end-to-end tests share,
//!   which changes no behaviour (an artifact per component and engine) but saves compiling
//!   the bundled adapters in every run.
//! - **Binaries.** The session's `PATH` starts with a directory holding `paygate` (the
//!   test build of the host's `src/main.rs`) and a `cargo` that runs the test builds for
//!   `cargo run --release -p PACKAGE -- ARGS` (refusing `cargo run` without `--release`,
//!   which would build the workspace a second time in debug), accepts
//!   `cargo install ... --path host` (paygate is already on the `PATH`), and refuses
//!   every other cargo command. Nothing is compiled during the run.
//!
//! # Annotations
//!
//! HTML comments, one per line, right above a shell block (blank lines and other
//! annotations may stand between), each `<!-- readme-test: KEYWORD ARGUMENTS -->`:
//!
//! | annotation | meaning |
//! |---|---|
//! | `skip (REASON)` | not run; the reason is required. The variables it uses (`$NAME`, outside single quotes) must still be set at that point |
//! | `background URL` | runs the block in the background (a server, a simulator: "in a terminal of its own"), waits until `GET URL` answers 2xx, stops it at the end of the run. A later background block with the same URL replaces it (the reader stopped it with Ctrl-C) |
//! | `replace TEXT with /REGEX/` | before running, every `TEXT` in the block becomes the first group of the last match of `REGEX` in what the blocks run so far printed (a value the README tells the reader to copy) |
//! | `expect-json PATH == VALUE` | every JSON document the block prints on stdout has the JSON `VALUE` at `PATH` (`.state`, `.action.type`, `.items.0.id`) |
//! | `expect-output TEXT` | the block's stdout contains `TEXT`, verbatim (quotes included) |
//! | `retry-for DURATION` | while an expectation fails, the block (read-only: it is run again) is retried for up to `DURATION` (`10s`, `500ms`); for what happens in the background |

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use regex::Regex;
use serde_json::Value;

/// The languages of the blocks the harness runs.
const SHELL_LANGUAGES: &[&str] = &["sh", "bash"];

/// What the harness knows about a block, from the comments right above it.
#[derive(Debug, Clone, PartialEq)]
pub enum Annotation {
    Skip(String),
    Background(String),
    Replace { text: String, pattern: String },
    ExpectJson { path: String, value: Value },
    ExpectOutput(String),
    RetryFor(Duration),
}

/// A shell block of the markdown.
#[derive(Debug, Clone)]
pub struct Block {
    /// The line of its opening fence (1-based).
    pub line: usize,
    pub text: String,
    pub annotations: Vec<Annotation>,
}

impl Block {
    fn skip_reason(&self) -> Option<&str> {
        self.annotations.iter().find_map(|a| match a {
            Annotation::Skip(reason) => Some(reason.as_str()),
            _ => None,
        })
    }

    fn background_url(&self) -> Option<&str> {
        self.annotations.iter().find_map(|a| match a {
            Annotation::Background(url) => Some(url.as_str()),
            _ => None,
        })
    }

    fn retry_for(&self) -> Option<Duration> {
        self.annotations.iter().find_map(|a| match a {
            Annotation::RetryFor(d) => Some(*d),
            _ => None,
        })
    }
}

/// The shell blocks of `markdown`, in order, with their annotations. An annotation that
/// does not parse, or that stands anywhere but right above a shell block, is an error: a
/// misplaced one would silently check nothing.
pub fn extract(markdown: &str) -> Result<Vec<Block>, String> {
    let mut blocks = Vec::new();
    let mut pending: Vec<(usize, Annotation)> = Vec::new();
    let mut lines = markdown.lines().enumerate();
    while let Some((index, line)) = lines.next() {
        let number = index + 1;
        let trimmed = line.trim();
        if let Some(rest) = trimmed.strip_prefix("<!-- readme-test:") {
            let body = rest.strip_suffix("-->").ok_or_else(|| {
                format!("line {number}: a readme-test annotation ends with `-->` on its line")
            })?;
            let annotation =
                parse_annotation(body.trim()).map_err(|e| format!("line {number}: {e}"))?;
            pending.push((number, annotation));
            continue;
        }
        if let Some(info) = trimmed.strip_prefix("```") {
            let language = info.split_whitespace().next().unwrap_or("").to_owned();
            let mut text = String::new();
            let mut closed = false;
            for (_, inner) in lines.by_ref() {
                if inner.trim() == "```" {
                    closed = true;
                    break;
                }
                text.push_str(inner);
                text.push('\n');
            }
            if !closed {
                return Err(format!("line {number}: this code block is never closed"));
            }
            if !SHELL_LANGUAGES.contains(&language.as_str()) {
                if let Some((at, _)) = pending.first() {
                    return Err(format!(
                        "line {at}: a readme-test annotation stands above a `{language}` \
                         block (line {number}), which is not run; only sh and bash blocks are"
                    ));
                }
                continue;
            }
            let annotations: Vec<Annotation> = pending.drain(..).map(|(_, a)| a).collect();
            check_combination(&annotations).map_err(|e| format!("line {number}: {e}"))?;
            blocks.push(Block {
                line: number,
                text,
                annotations,
            });
            continue;
        }
        if !trimmed.is_empty() {
            if let Some((at, _)) = pending.first() {
                return Err(format!(
                    "line {at}: a readme-test annotation stands right above a shell block \
                     (blank lines aside), but line {number} comes first"
                ));
            }
        }
    }
    if let Some((at, _)) = pending.first() {
        return Err(format!(
            "line {at}: a readme-test annotation with no shell block below it"
        ));
    }
    Ok(blocks)
}

fn parse_annotation(body: &str) -> Result<Annotation, String> {
    let (keyword, args) = body.split_once(char::is_whitespace).unwrap_or((body, ""));
    let args = args.trim();
    match keyword {
        "skip" => {
            let reason = args
                .trim_start_matches('(')
                .trim_end_matches(')')
                .trim()
                .to_owned();
            if reason.is_empty() {
                return Err("`skip` needs a reason: `skip (why this block is not run)`".into());
            }
            Ok(Annotation::Skip(reason))
        }
        "background" => {
            if !args.starts_with("http://") || args.contains(char::is_whitespace) {
                return Err(format!(
                    "`background` takes the URL that answers 2xx once it is ready, not `{args}`"
                ));
            }
            Ok(Annotation::Background(args.to_owned()))
        }
        "replace" => {
            let (text, pattern) = args
                .split_once(" with /")
                .and_then(|(text, rest)| Some((text.trim(), rest.strip_suffix('/')?)))
                .ok_or_else(|| format!("`replace` is `replace TEXT with /REGEX/`, not `{args}`"))?;
            if text.is_empty() {
                return Err("`replace` needs the TEXT to replace".into());
            }
            let regex = Regex::new(pattern).map_err(|e| format!("`replace`: {e}"))?;
            if regex.captures_len() < 2 {
                return Err(format!(
                    "`replace`: /{pattern}/ needs a group (...) around the value"
                ));
            }
            Ok(Annotation::Replace {
                text: text.to_owned(),
                pattern: pattern.to_owned(),
            })
        }
        "expect-json" => {
            let (path, value) = args.split_once(" == ").ok_or_else(|| {
                format!("`expect-json` is `expect-json .PATH == VALUE`, not `{args}`")
            })?;
            let path = path.trim();
            if !path.starts_with('.') {
                return Err(format!(
                    "`expect-json`: a path starts with `.`, not `{path}`"
                ));
            }
            let value = serde_json::from_str(value.trim())
                .map_err(|e| format!("`expect-json`: `{}` is not JSON: {e}", value.trim()))?;
            Ok(Annotation::ExpectJson {
                path: path.to_owned(),
                value,
            })
        }
        "expect-output" => {
            if args.is_empty() {
                return Err("`expect-output` needs the text to find".into());
            }
            Ok(Annotation::ExpectOutput(args.to_owned()))
        }
        "retry-for" => parse_duration(args)
            .map(Annotation::RetryFor)
            .ok_or_else(|| {
                format!("`retry-for` takes a duration like `10s` or `500ms`, not `{args}`")
            }),
        other => Err(format!(
            "unknown readme-test annotation `{other}` (known: skip, background, replace, \
             expect-json, expect-output, retry-for)"
        )),
    }
}

fn check_combination(annotations: &[Annotation]) -> Result<(), String> {
    let skip = annotations.iter().any(|a| matches!(a, Annotation::Skip(_)));
    if skip && annotations.len() > 1 {
        return Err("a skipped block takes no other annotation".into());
    }
    let background = annotations
        .iter()
        .filter(|a| matches!(a, Annotation::Background(_)))
        .count();
    if background > 1 {
        return Err("a block has one `background` URL".into());
    }
    let checks = annotations.iter().any(|a| {
        matches!(
            a,
            Annotation::ExpectJson { .. } | Annotation::ExpectOutput(_) | Annotation::RetryFor(_)
        )
    });
    if background == 1 && checks {
        return Err("a background block is checked by its URL only, not by expectations".into());
    }
    Ok(())
}

fn parse_duration(text: &str) -> Option<Duration> {
    if let Some(ms) = text.strip_suffix("ms") {
        return ms.trim().parse().ok().map(Duration::from_millis);
    }
    let secs = text.strip_suffix('s')?;
    secs.trim().parse().ok().map(Duration::from_secs)
}

/// The `$NAME` and `${NAME...}` a block expands, outside single quotes: the variables it
/// needs set.
pub fn variables_used(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let chars: Vec<char> = text.chars().collect();
    let (mut single, mut double) = (false, false);
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\\' if !single => i += 1,
            '\'' if !double => single = !single,
            '"' if !single => double = !double,
            '#' if !single && !double && (i == 0 || chars[i - 1].is_whitespace()) => {
                // A comment: to the end of the line.
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '$' if !single => {
                let start = if chars.get(i + 1) == Some(&'{') {
                    i + 2
                } else {
                    i + 1
                };
                let mut end = start;
                while end < chars.len() && (chars[end].is_ascii_alphanumeric() || chars[end] == '_')
                {
                    end += 1;
                }
                let name: String = chars[start..end].iter().collect();
                if name
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                {
                    names.insert(name);
                }
            }
            _ => {}
        }
        i += 1;
    }
    names
}

/// How to run a markdown file: where its paths point and which binaries stand for what it
/// builds.
pub struct Setup {
    /// What the markdown's messages call it (`README.md`).
    pub name: String,
    /// The repository the commands run in (a link farm of it, see the module doc).
    pub repo: PathBuf,
    /// Programs on the session's `PATH`: (`paygate`, the binary).
    pub programs: Vec<(String, PathBuf)>,
    /// `cargo run --release -p PACKAGE --`: (package, the binary).
    pub packages: Vec<(String, PathBuf)>,
    /// The `--path` directories of `cargo install` commands the `programs` stand for.
    pub installs: Vec<String>,
    /// A port that the markdown's server listens on without naming it, and the
    /// variable that moves it: (8080, `PAYGATE_LISTEN`).
    pub default_listen: Option<(u16, String)>,
    /// More environment for the session, which otherwise inherits only `PATH`.
    pub env: Vec<(String, String)>,
    /// How long one block may run.
    pub block_timeout: Duration,
    /// How long a background block may take to answer its URL.
    pub ready_timeout: Duration,
}

/// What a successful run did.
#[derive(Debug)]
pub struct Report {
    pub ran: usize,
    pub background: usize,
    pub skipped: Vec<(usize, String)>,
    pub elapsed: Duration,
}

/// Runs the shell blocks of `markdown`; on failure, a message naming the block's line, the
/// failing command when the shell reports it, and what the block printed.
pub fn run(markdown: &str, setup: &Setup) -> Result<Report, String> {
    let started = Instant::now();
    let blocks = extract(markdown).map_err(|e| format!("{}: {e}", setup.name))?;
    let mut session = Session::start(setup, &blocks)?;
    let mut report = Report {
        ran: 0,
        background: 0,
        skipped: Vec::new(),
        elapsed: Duration::ZERO,
    };
    for (index, block) in blocks.iter().enumerate() {
        let result = if let Some(reason) = block.skip_reason() {
            report.skipped.push((block.line, reason.to_owned()));
            session.check_variables_set(block)
        } else if let Some(url) = block.background_url() {
            report.background += 1;
            session.start_background(index, block, url)
        } else {
            report.ran += 1;
            session.run_foreground(index, block)
        };
        result.map_err(|message| {
            format!(
                "{}, the sh block at line {}: {message}\n--- the block as run ---\n{}",
                setup.name,
                block.line,
                session.rewrite_ports(&block.text)
            )
        })?;
    }
    report.elapsed = started.elapsed();
    Ok(report)
}

/// One bash session with its background servers; everything is stopped on drop.
struct Session {
    shell: Child,
    stdin: ChildStdin,
    control: Receiver<String>,
    dir: tempfile::TempDir,
    ports: HashMap<u16, u16>,
    port_pattern: Regex,
    /// What was printed so far, in README order: (foreground output, or a background log).
    outputs: Vec<Output>,
    /// Running background blocks: (ready URL after rewriting, process group).
    servers: Vec<(String, u32)>,
    block_timeout: Duration,
    ready_timeout: Duration,
}

enum Output {
    Text(String),
    Log(PathBuf),
}

/// What a foreground block printed.
struct Printed {
    stdout: String,
    stderr: String,
}

impl Session {
    fn start(setup: &Setup, blocks: &[Block]) -> Result<Session, String> {
        let dir = tempfile::tempdir().map_err(|e| format!("temporary directory: {e}"))?;
        let clone = dir.path().join("clone");
        let home = dir.path().join("home");
        let bin = dir.path().join("bin");
        let run = dir.path().join("run");
        for d in [&clone, &home, &bin, &run] {
            std::fs::create_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))?;
        }
        link_repository(&setup.repo, &clone)?;
        for (name, binary) in &setup.programs {
            std::os::unix::fs::symlink(binary, bin.join(name))
                .map_err(|e| format!("{name} on the PATH: {e}"))?;
        }
        write_cargo_shim(&bin.join("cargo"), setup)?;

        let port_pattern =
            Regex::new(r"\b(localhost|127\.0\.0\.1):(\d{2,5})\b").map_err(|e| e.to_string())?;
        let mut ports = HashMap::new();
        let mut wanted: Vec<u16> = setup.default_listen.iter().map(|(p, _)| *p).collect();
        for block in blocks.iter().filter(|b| b.skip_reason().is_none()) {
            let urls = block.background_url().unwrap_or("");
            for text in [block.text.as_str(), urls] {
                for caps in port_pattern.captures_iter(text) {
                    if let Ok(port) = caps[2].parse() {
                        wanted.push(port);
                    }
                }
            }
        }
        for port in wanted {
            if let std::collections::hash_map::Entry::Vacant(slot) = ports.entry(port) {
                slot.insert(free_port()?);
            }
        }

        let path = std::env::var("PATH").unwrap_or_default();
        let mut shell = Command::new("bash");
        shell
            .args(["--noprofile", "--norc"])
            .current_dir(&clone)
            .env_clear()
            .env("PATH", format!("{}:{path}", bin.display()))
            .env("HOME", &home)
            .env("LANG", "C.UTF-8");
        shell.envs(setup.env.iter().map(|(k, v)| (k, v)));
        if let Some((port, variable)) = &setup.default_listen {
            shell.env(variable, format!("127.0.0.1:{}", ports[port]));
        }
        let shell_err =
            std::fs::File::create(run.join("shell.err")).map_err(|e| format!("shell log: {e}"))?;
        let mut shell = shell
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(shell_err)
            .spawn()
            .map_err(|e| format!("cannot start bash: {e}"))?;
        let stdin = shell.stdin.take().ok_or("bash has no stdin")?;
        let stdout = shell.stdout.take().ok_or("bash has no stdout")?;
        let (sender, control) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        let mut session = Session {
            shell,
            stdin,
            control,
            dir,
            ports,
            port_pattern,
            outputs: Vec::new(),
            servers: Vec::new(),
            block_timeout: setup.block_timeout,
            ready_timeout: setup.ready_timeout,
        };
        // `set -m`: each background block is a process group of its own, stopped as one.
        // The ERR trap names the failing command and its line within the block.
        session.send(concat!(
            "set -euo pipefail -m -E\n",
            "trap '__rt_status=$?; printf \"__RT_ERR %s %s %s\\n\" \"$LINENO\" \"$__rt_status\" \"$BASH_COMMAND\" >&2' ERR\n",
            "printf '__RT_READY\\n'\n",
        ))?;
        session.expect_control("__RT_READY", Duration::from_secs(10))?;
        Ok(session)
    }

    fn send(&mut self, script: &str) -> Result<(), String> {
        self.stdin
            .write_all(script.as_bytes())
            .and_then(|()| self.stdin.flush())
            .map_err(|e| format!("the shell stopped reading commands: {e}"))
    }

    /// Waits for the next control line, which must start with `prefix`; the rest of it.
    fn expect_control(&mut self, prefix: &str, timeout: Duration) -> Result<String, String> {
        match self.control.recv_timeout(timeout) {
            Ok(line) => line
                .strip_prefix(prefix)
                .map(|rest| rest.trim().to_owned())
                .ok_or_else(|| format!("unexpected output from the shell: {line}")),
            Err(RecvTimeoutError::Timeout) => {
                Err(format!("still running after {} s", timeout.as_secs()))
            }
            Err(RecvTimeoutError::Disconnected) => {
                let status = self
                    .shell
                    .wait()
                    .map(|s| s.to_string())
                    .unwrap_or_else(|e| e.to_string());
                Err(format!("the shell exited ({status})"))
            }
        }
    }

    fn rewrite_ports(&self, text: &str) -> String {
        self.port_pattern
            .replace_all(text, |caps: &regex::Captures| {
                let port = caps[2].parse::<u16>().ok();
                match port.and_then(|p| self.ports.get(&p)) {
                    Some(mapped) => format!("{}:{mapped}", &caps[1]),
                    None => caps[0].to_owned(),
                }
            })
            .into_owned()
    }

    /// Everything printed so far, in README order.
    fn printed_so_far(&self) -> String {
        let mut all = String::new();
        for output in &self.outputs {
            match output {
                Output::Text(text) => all.push_str(text),
                Output::Log(path) => all.push_str(&read_lossy(path)),
            }
            all.push('\n');
        }
        all
    }

    /// The block's text as it will run: ports rewritten, `replace` annotations applied.
    fn prepare(&self, block: &Block) -> Result<String, String> {
        let mut text = self.rewrite_ports(&block.text);
        for annotation in &block.annotations {
            let Annotation::Replace {
                text: from,
                pattern,
            } = annotation
            else {
                continue;
            };
            if !text.contains(from.as_str()) {
                return Err(format!(
                    "`replace {from} with /{pattern}/`: the block does not contain `{from}`"
                ));
            }
            let regex = Regex::new(pattern).map_err(|e| e.to_string())?;
            // A server may print what the reader copies a moment after it answers its
            // URL: its log is given a few seconds.
            let deadline = Instant::now() + Duration::from_secs(5);
            let value = loop {
                let printed = self.printed_so_far();
                let found = regex
                    .captures_iter(&printed)
                    .last()
                    .and_then(|caps| caps.get(1))
                    .map(|m| m.as_str().to_owned());
                match found {
                    Some(value) => break value,
                    None if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(100));
                    }
                    None => {
                        return Err(format!(
                            "`replace {from} with /{pattern}/`: nothing the blocks before \
                             printed matches /{pattern}/"
                        ))
                    }
                }
            };
            text = text.replace(from.as_str(), &value);
        }
        Ok(text)
    }

    fn block_file(&self, index: usize, suffix: &str) -> PathBuf {
        self.dir
            .path()
            .join("run")
            .join(format!("block-{index}.{suffix}"))
    }

    fn run_foreground(&mut self, index: usize, block: &Block) -> Result<(), String> {
        let text = self.prepare(block)?;
        let script = self.block_file(index, "sh");
        std::fs::write(&script, &text).map_err(|e| format!("{}: {e}", script.display()))?;
        let deadline = Instant::now() + block.retry_for().unwrap_or(Duration::ZERO);
        loop {
            let printed = self.source(index, &script, block)?;
            match check_expectations(block, &printed.stdout) {
                Ok(()) => {
                    self.outputs.push(Output::Text(format!(
                        "{}{}",
                        printed.stdout, printed.stderr
                    )));
                    return Ok(());
                }
                Err(e) if Instant::now() >= deadline => {
                    let mut message = e;
                    if let Some(retry) = block.retry_for() {
                        let _ = write!(
                            message,
                            " (still after {} ms of retries)",
                            retry.as_millis()
                        );
                    }
                    return Err(format!("{message}\n{}", show_printed(&printed)));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(250)),
            }
        }
    }

    /// Sources the block's script in the session; what it printed, or why it failed.
    fn source(&mut self, index: usize, script: &Path, block: &Block) -> Result<Printed, String> {
        let (out, err) = (self.block_file(index, "out"), self.block_file(index, "err"));
        self.send(&format!(
            "source {} </dev/null >{} 2>{}; printf '__RT_DONE\\n'\n",
            quote(script)?,
            quote(&out)?,
            quote(&err)?
        ))?;
        let done = self.expect_control("__RT_DONE", self.block_timeout);
        let printed = Printed {
            stdout: read_lossy(&out),
            stderr: read_lossy(&err),
        };
        if let Err(e) = done {
            let failure = describe_failure(&printed.stderr, block)
                .unwrap_or_else(|| format!("the block failed: {e}"));
            return Err(format!("{failure}\n{}", show_printed(&printed)));
        }
        Ok(printed)
    }

    fn start_background(&mut self, index: usize, block: &Block, url: &str) -> Result<(), String> {
        let url = self.rewrite_ports(url);
        // The reader stops the earlier server on that address before starting this one.
        if let Some(at) = self.servers.iter().position(|(u, _)| *u == url) {
            let (_, group) = self.servers.remove(at);
            stop_group(group);
        }
        let text = self.prepare(block)?;
        let script = self.block_file(index, "sh");
        let log = self.block_file(index, "log");
        std::fs::write(&script, &text).map_err(|e| format!("{}: {e}", script.display()))?;
        self.send(&format!(
            "( source {} ) </dev/null >{} 2>&1 & printf '__RT_PID %s\\n' \"$!\"\n",
            quote(&script)?,
            quote(&log)?
        ))?;
        let group: u32 = self
            .expect_control("__RT_PID", Duration::from_secs(10))?
            .parse()
            .map_err(|e| format!("the background block's process id: {e}"))?;
        self.servers.push((url.clone(), group));
        self.outputs.push(Output::Log(log.clone()));
        let deadline = Instant::now() + self.ready_timeout;
        loop {
            if http_ok(&url) {
                return Ok(());
            }
            if !group_alive(group) {
                return Err(format!(
                    "the background block exited before {url} answered\n--- its output ---\n{}",
                    tail(&read_lossy(&log))
                ));
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "{url} did not answer 2xx within {} s\n--- its output ---\n{}",
                    self.ready_timeout.as_secs(),
                    tail(&read_lossy(&log))
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A skipped block is not run, but the variables it uses must be set by then: a typo
    /// there (`$API_KEY` for `$KEY`) is a README that fails as written.
    fn check_variables_set(&mut self, block: &Block) -> Result<(), String> {
        let names = variables_used(&block.text);
        if names.is_empty() {
            return Ok(());
        }
        let list: Vec<&str> = names.iter().map(String::as_str).collect();
        self.send(&format!(
            "__rt_unset=; for __rt_v in {}; do [[ -v $__rt_v ]] || __rt_unset=\"$__rt_unset $__rt_v\"; done; printf '__RT_UNSET%s\\n' \"$__rt_unset\"\n",
            list.join(" ")
        ))?;
        let unset = self.expect_control("__RT_UNSET", Duration::from_secs(10))?;
        if unset.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "skipped, but it uses variables no block before sets: {unset}"
            ))
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        for (_, group) in self.servers.drain(..) {
            stop_group(group);
        }
        let _ = self.shell.kill();
        let _ = self.shell.wait();
    }
}

fn check_expectations(block: &Block, stdout: &str) -> Result<(), String> {
    let documents: Result<Vec<Value>, _> = serde_json::Deserializer::from_str(stdout)
        .into_iter::<Value>()
        .collect();
    let expects_error = block
        .annotations
        .iter()
        .any(|a| matches!(a, Annotation::ExpectJson { path, .. } if path.starts_with(".error")));
    if let (Ok(documents), false) = (&documents, expects_error) {
        if let Some(error) = documents.iter().find_map(|d| d.get("error")) {
            return Err(format!("an error answer: {{\"error\":{error}}}"));
        }
    }
    for annotation in &block.annotations {
        match annotation {
            Annotation::ExpectJson { path, value } => {
                let documents = documents.as_ref().map_err(|e| {
                    format!("`expect-json {path} == {value}`: stdout is not JSON documents ({e})")
                })?;
                if documents.is_empty() {
                    return Err(format!(
                        "`expect-json {path} == {value}`: the block printed no JSON"
                    ));
                }
                for (n, document) in documents.iter().enumerate() {
                    let found = lookup(document, path);
                    if found != Some(value) {
                        let found = found.map_or("nothing".to_owned(), Value::to_string);
                        return Err(format!(
                            "`expect-json {path} == {value}`: JSON document {} has {found} there",
                            n + 1
                        ));
                    }
                }
            }
            Annotation::ExpectOutput(text) if !stdout.contains(text.as_str()) => {
                return Err(format!(
                    "`expect-output {text}`: not in what the block printed"
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

/// `.a.b.0`: members by name, array elements by index; `.` is the document.
fn lookup<'a>(document: &'a Value, path: &str) -> Option<&'a Value> {
    path.trim_start_matches('.')
        .split('.')
        .filter(|segment| !segment.is_empty())
        .try_fold(document, |value, segment| match value {
            Value::Array(items) => segment.parse::<usize>().ok().and_then(|i| items.get(i)),
            _ => value.get(segment),
        })
}

/// The failing command and its README line, from the ERR trap's `__RT_ERR LINE STATUS CMD`.
fn describe_failure(stderr: &str, block: &Block) -> Option<String> {
    if let Some(line) = stderr
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("__RT_ERR "))
    {
        let mut parts = line.splitn(3, ' ');
        let (at, status, command) = (parts.next()?, parts.next()?, parts.next()?);
        let at: usize = at.parse().ok()?;
        return Some(format!(
            "line {}: `{command}` exited with status {status}",
            block.line + at
        ));
    }
    // What bash reports without running the trap (`set -u`, a syntax error): `FILE: line N: ...`.
    let pattern = Regex::new(r"block-\d+\.sh: line (\d+): (.*)").ok()?;
    let caps = stderr.lines().rev().find_map(|l| pattern.captures(l))?;
    let at: usize = caps[1].parse().ok()?;
    Some(format!("line {}: {}", block.line + at, &caps[2]))
}

fn show_printed(printed: &Printed) -> String {
    format!(
        "--- stdout ---\n{}\n--- stderr ---\n{}",
        tail(&printed.stdout),
        tail(&printed.stderr)
    )
}

fn tail(text: &str) -> String {
    const KEEP: usize = 4000;
    if text.len() <= KEEP {
        return text.to_owned();
    }
    let mut start = text.len() - KEEP;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    format!("[...]{}", &text[start..])
}

fn read_lossy(path: &Path) -> String {
    let mut bytes = Vec::new();
    if let Ok(mut file) = std::fs::File::open(path) {
        let _ = file.read_to_end(&mut bytes);
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// A path in single quotes for the shell.
fn quote(path: &Path) -> Result<String, String> {
    let text = path.to_str().ok_or("a temporary path that is not UTF-8")?;
    if text.contains('\'') {
        return Err(format!("a temporary path with a quote in it: {text}"));
    }
    Ok(format!("'{text}'"))
}

/// A link to each top-level entry of the repository, but its build output and data.
fn link_repository(repo: &Path, clone: &Path) -> Result<(), String> {
    let entries = std::fs::read_dir(repo).map_err(|e| format!("{}: {e}", repo.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("{}: {e}", repo.display()))?;
        let name = entry.file_name();
        if name == "target" || name == "paygate-data" {
            continue;
        }
        std::os::unix::fs::symlink(entry.path(), clone.join(&name))
            .map_err(|e| format!("linking {}: {e}", entry.path().display()))?;
    }
    Ok(())
}

fn write_cargo_shim(path: &Path, setup: &Setup) -> Result<(), String> {
    let mut script = String::from(
        "#!/usr/bin/env bash\n\
         # The README harness's cargo (tests/readme/harness.rs): runs the test builds\n\
         # instead of building anything.\n\
         set -euo pipefail\n\
         if [ \"${1-}\" = install ]; then\n\
         \x20 for arg in \"$@\"; do case \"$arg\" in\n",
    );
    for dir in &setup.installs {
        let _ = writeln!(
            script,
            "    {dir}|./{dir}) echo \"readme-test: cargo $*: the test build is on the PATH\" >&2; exit 0;;"
        );
    }
    script.push_str(
        "  esac; done\n\
         elif [ \"${1-}\" = run ]; then\n\
         \x20 shift; release=no; package=\n\
         \x20 while [ $# -gt 0 ]; do\n\
         \x20   case \"$1\" in\n\
         \x20     --release) release=yes;;\n\
         \x20     -p|--package) shift; package=${1-};;\n\
         \x20     --) shift; break;;\n\
         \x20     *) echo \"readme-test: cargo run: the harness does not know option $1\" >&2; exit 97;;\n\
         \x20   esac\n\
         \x20   shift\n\
         \x20 done\n\
         \x20 if [ $release = no ]; then\n\
         \x20   echo \"readme-test: cargo run -p $package without --release builds the workspace again, in debug\" >&2; exit 97\n\
         \x20 fi\n\
         \x20 case \"$package\" in\n",
    );
    for (package, binary) in &setup.packages {
        let _ = writeln!(script, "    {package}) exec {} \"$@\";;", quote(binary)?);
    }
    script.push_str(
        "    *) echo \"readme-test: cargo run: no test build stands for package $package\" >&2; exit 97;;\n\
         \x20 esac\n\
         fi\n\
         echo \"readme-test: the harness does not run cargo $*; annotate the block with skip (why)\" >&2\n\
         exit 97\n",
    );
    std::fs::write(path, script).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut permissions = std::fs::metadata(path)
        .map_err(|e| e.to_string())?
        .permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o755);
    std::fs::set_permissions(path, permissions).map_err(|e| e.to_string())
}

fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

/// `GET url` answers 2xx (plain HTTP/1.0, loopback URLs only).
fn http_ok(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let Ok(addrs) = authority.to_socket_addrs() else {
        return false;
    };
    // `localhost` may resolve to ::1 first, where a server bound to 127.0.0.1 is not.
    let Some(mut stream) = addrs
        .into_iter()
        .find_map(|addr| TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok())
    else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = format!("GET {path} HTTP/1.0\r\nHost: {authority}\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut status = String::new();
    if BufReader::new(stream).read_line(&mut status).is_err() {
        return false;
    }
    status
        .split_whitespace()
        .nth(1)
        .is_some_and(|code| code.starts_with('2'))
}

fn group_alive(group: u32) -> bool {
    Command::new("kill")
        .args(["-0", "--", &format!("-{group}")])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Stops a background block's process group: TERM, then KILL after 5 s.
fn stop_group(group: u32) {
    let signal = |name: &str| {
        let _ = Command::new("kill")
            .args([name, "--", &format!("-{group}")])
            .stderr(Stdio::null())
            .status();
    };
    signal("-TERM");
    let deadline = Instant::now() + Duration::from_secs(5);
    while group_alive(group) {
        if Instant::now() >= deadline {
            signal("-KILL");
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
