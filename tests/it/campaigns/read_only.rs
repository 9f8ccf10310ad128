//! A data directory wucache cannot write: a synced one and a fresh one bind-mounted
//! read-only (as `ProtectSystem=strict` leaves every path not in `ReadWritePaths=`), a synced
//! one owned by root with `serve` running as another user (a forgotten `chown`), and a
//! `[content] dir` on a read-only mount beside a writable data directory. Each command must
//! either stop at start with an error naming the directory, or run with `/ready` answering
//! 503 and a storage error naming it — never run as if all were well, never panic.
//!
//! Needs root: as root, permissions do not stop writes, so read-only bind mounts
//! (`mount --bind D D && mount -o remount,bind,ro D`) stand in for them, and the
//! "another user" case runs the binary as uid 65534. Without root it fails saying so.

use super::{copy_dir, get_text, write_config, Campaign, Run, Settings, Trial};
use anyhow::{bail, ensure, Context, Result};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The user the "another user" case runs as (`nobody` on most systems).
const OTHER_UID: u32 = 65534;
/// How long `serve` gets to refuse or report; beyond the storage watch's 10 s period.
const VERDICT_WITHIN: Duration = Duration::from_secs(15);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "fault campaign, needs root: cargo test --test it campaigns -- --ignored --nocapture"]
async fn a_data_directory_that_cannot_be_written_is_refused_or_reported_naming_it() {
    let mut campaign = Campaign::start("read-only");
    let uid = std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(u32::MAX);
    assert_eq!(
        uid, 0,
        "the read-only campaign needs root: it bind-mounts directories read-only (mount --bind D D; \
         mount -o remount,bind,ro D) and runs wucache as uid {OTHER_UID}; run it as root"
    );
    let bench = Bench::new().await.expect("set-up");
    for case in CASES {
        let outcome = bench.run_case(case).await;
        campaign.record(outcome.map(|note| Trial {
            kills: 0,
            landed: 0,
            note: format!("{}: {note}", case.name()),
        }));
    }
    campaign.finish(None);
}

/// The situations tried.
#[derive(Debug, Clone, Copy)]
enum Case {
    /// `serve`, `sync` or `prefetch` on a synced data directory mounted read-only.
    SyncedReadOnly(&'static str),
    /// `serve` on an empty data directory mounted read-only (a first start).
    FreshReadOnly,
    /// `serve` as another user on a synced data directory owned by root.
    OtherOwner,
    /// `serve` with `[content] dir` on a read-only mount (with or without its `tmp/`), the
    /// data directory writable.
    ContentReadOnly { with_tmp: bool },
}

const CASES: [Case; 7] = [
    Case::SyncedReadOnly("serve"),
    Case::SyncedReadOnly("sync"),
    Case::SyncedReadOnly("prefetch"),
    Case::FreshReadOnly,
    Case::OtherOwner,
    Case::ContentReadOnly { with_tmp: true },
    Case::ContentReadOnly { with_tmp: false },
];

impl Case {
    fn name(self) -> String {
        match self {
            Case::SyncedReadOnly(command) => format!("{command} on a read-only synced data dir"),
            Case::FreshReadOnly => "serve on a read-only empty data dir".into(),
            Case::OtherOwner => format!("serve as uid {OTHER_UID} on a data dir owned by root"),
            Case::ContentReadOnly { with_tmp } => format!(
                "serve with a read-only [content] dir ({})",
                if with_tmp { "tmp/ present" } else { "empty" }
            ),
        }
    }
}

/// A synced data directory to copy from, and the upstream it came from.
struct Bench {
    upstream: wucache_testkit::fake_upstream::FakeUpstream,
    dir: tempfile::TempDir,
    synced: PathBuf,
}

impl Bench {
    async fn new() -> Result<Bench> {
        let (upstream, _) = crate::content::upstream_with_payloads(7, 20, 50_000).await;
        let dir = tempfile::tempdir()?;
        // Readable by the other user: the config files and the data directories live here.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))?;
        let synced = dir.path().join("synced");
        let config = dir.path().join("synced.toml");
        write_config(&config, &synced, &upstream.url(), &Settings::default())?;
        let mut sync = Run::spawn("sync", &config, &dir.path().join("sync.log"))?;
        ensure!(
            sync.wait(Duration::from_secs(60)).await?.success(),
            "sync failed:\n{}",
            sync.log_tail()
        );
        // A first serve creates the token, the cookie key and the content directory.
        let mut serve = Run::spawn("serve", &config, &dir.path().join("first-serve.log"))?;
        serve.ready(Duration::from_secs(30)).await?;
        ensure!(
            serve.terminate(Duration::from_secs(30)).await?.success(),
            "first serve"
        );
        Ok(Bench {
            upstream,
            dir,
            synced,
        })
    }

    /// Sets the case up, runs its command and judges the outcome; returns what happened.
    async fn run_case(&self, case: Case) -> Result<String> {
        let root = self.dir.path().join(format!(
            "case-{}",
            case.name().replace([' ', '/', '[', ']', '(', ')'], "-")
        ));
        std::fs::create_dir_all(&root)?;
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755))?;
        let data = root.join("data");
        let config = root.join("wucache.toml");
        let log = root.join("wucache.log");
        let (command, blocked, _mount) = match case {
            Case::SyncedReadOnly(command) => {
                copy_dir(&self.synced, &data)?;
                (command, data.clone(), Some(ReadOnly::mount(&data)?))
            }
            Case::FreshReadOnly => {
                std::fs::create_dir_all(&data)?;
                ("serve", data.clone(), Some(ReadOnly::mount(&data)?))
            }
            Case::OtherOwner => {
                copy_dir(&self.synced, &data)?;
                ("serve", data.clone(), None)
            }
            Case::ContentReadOnly { with_tmp } => {
                copy_dir(&self.synced, &data)?;
                let content = root.join("content");
                std::fs::create_dir_all(&content)?;
                if with_tmp {
                    std::fs::create_dir_all(content.join("tmp"))?;
                }
                ("serve", content.clone(), Some(ReadOnly::mount(&content)?))
            }
        };
        let content = match case {
            Case::ContentReadOnly { .. } => format!("dir = \"{}\"", root.join("content").display()),
            _ => String::new(),
        };
        let settings = Settings {
            content: &content,
            ..Settings::default()
        };
        write_config(&config, &data, &self.upstream.url(), &settings)?;
        std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644))?;
        let mut wucache = Command::new(super::BIN);
        wucache.arg(command).arg("--config").arg(&config);
        if let Case::OtherOwner = case {
            wucache.uid(OTHER_UID).gid(OTHER_UID);
        }
        let mut run = Run::spawn_with(&mut wucache, &log)?;
        let verdict = verdict(&mut run, command).await?;
        let message = match &verdict {
            Verdict::Refused(message) | Verdict::Reported(message) => message,
        };
        ensure!(
            message.contains(&blocked.display().to_string()),
            "the message does not name {}: {message}",
            blocked.display()
        );
        ensure!(
            !run.log_text().contains("panicked"),
            "a panic:\n{}",
            run.log_tail()
        );
        Ok(match verdict {
            Verdict::Refused(message) => format!("refused at start: {message}"),
            Verdict::Reported(message) => format!("/ready 503: {message}"),
        })
    }
}

/// What a command did with a directory it cannot write.
enum Verdict {
    /// Exited unsuccessfully; its last error line.
    Refused(String),
    /// `serve` runs and `/ready` answers 503; its body.
    Reported(String),
}

/// Waits for the command to exit with an error or, for `serve`, for `/ready` to answer 503;
/// anything else within `VERDICT_WITHIN` is a failure.
async fn verdict(run: &mut Run, command: &str) -> Result<Verdict> {
    let deadline = Instant::now() + VERDICT_WITHIN;
    let mut admin = None;
    let mut last_ready = None;
    while Instant::now() < deadline {
        if let Some(status) = run.exited()? {
            ensure!(
                !status.success(),
                "{command} exited successfully:\n{}",
                run.log_tail()
            );
            let log = run.log_text();
            let line = log
                .lines()
                .rev()
                .find(|l| l.contains("wucache:") || l.contains("ERROR"));
            return Ok(Verdict::Refused(
                line.unwrap_or("(no error line)").trim().to_string(),
            ));
        }
        if command == "serve" {
            if admin.is_none() {
                admin = run
                    .serving(Duration::from_millis(200))
                    .await
                    .ok()
                    .map(|(_, admin)| admin);
            }
            if let Some(admin) = admin {
                last_ready = get_text(admin, "/ready", None).await;
                if let Some((503, body)) = &last_ready {
                    if body.contains("storage_error") && !body.contains("\"storage_error\":null") {
                        run.kill9()?;
                        return Ok(Verdict::Reported(body.clone()));
                    }
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    run.kill9()?;
    bail!(
        "{command} neither stopped nor reported a storage problem within {VERDICT_WITHIN:?} \
         (last /ready: {last_ready:?}); log:\n{}",
        run.log_tail()
    )
}

/// `dir` bind-mounted read-only onto itself until dropped.
struct ReadOnly(PathBuf);

impl ReadOnly {
    fn mount(dir: &Path) -> Result<ReadOnly> {
        let needs = "the read-only campaign needs CAP_SYS_ADMIN to bind-mount a directory read-only";
        run_tool(&["mount", "--bind"], &[dir, dir]).context(needs)?;
        let guard = ReadOnly(dir.to_path_buf());
        run_tool(&["mount", "-o", "remount,bind,ro"], &[dir]).context(needs)?;
        match std::fs::write(dir.join(".probe"), b"") {
            Err(err) if err.raw_os_error() == Some(30) => Ok(guard), // EROFS
            other => bail!(
                "{} is still writable after the read-only remount: {other:?}",
                dir.display()
            ),
        }
    }
}

impl Drop for ReadOnly {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

fn run_tool(args: &[&str], paths: &[&Path]) -> Result<()> {
    let output = Command::new(args[0]).args(&args[1..]).args(paths).output()?;
    ensure!(
        output.status.success(),
        "{} {:?}: {}",
        args.join(" "),
        paths,
        String::from_utf8_lossy(&output.stderr).trim()
    );
    Ok(())
}
