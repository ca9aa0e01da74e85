//! The audit store's disk goes read-only under a running gateway, as ext4 does on an I/O error
//! (`errors=remount-ro`): every request is refused with a clear error and nothing reaches
//! PostgreSQL unaudited; gatehouse lets go of the volume's files, so the operator can unmount
//! it, check it and mount it again; then the same sessions work again without a restart, and
//! the store gatehouse reads is the repaired one (a key revoked there ends the session using it).
//!
//! The volume is a real ext4 file system on a loop device, failed through the kernel's own
//! `trigger_fs_error`. That needs root and loop devices: without them the test says so and
//! passes, except under CI=true, where it fails.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use support::Options;

/// An ext4 file system in an image file, mounted on a loop device.
struct Volume {
    /// Holds the image file and the mount point.
    dir: tempfile::TempDir,
    mount_point: PathBuf,
}

fn run(program: &str, args: &[&str]) -> Result<String, String> {
    let output = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("{program}: {e}"))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(format!(
            "{program} {args:?}: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

impl Volume {
    fn create() -> Result<Volume, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let image = dir.path().join("volume.img");
        let mount_point = dir.path().join("mnt");
        std::fs::create_dir(&mount_point).map_err(|e| e.to_string())?;
        std::fs::File::create(&image)
            .and_then(|file| file.set_len(128 << 20))
            .map_err(|e| e.to_string())?;
        run("mkfs.ext4", &["-q", "-F", image.to_str().unwrap()])?;
        let volume = Volume { dir, mount_point };
        volume.mount()?;
        Ok(volume)
    }

    fn image(&self) -> PathBuf {
        self.dir.path().join("volume.img")
    }

    fn mount(&self) -> Result<(), String> {
        run(
            "mount",
            &[
                "-o",
                "loop,errors=remount-ro",
                self.image().to_str().unwrap(),
                self.mount_point.to_str().unwrap(),
            ],
        )
        .map(drop)
    }

    /// What the kernel does on an I/O error: the file system becomes read-only at once, also
    /// for files already open for writing.
    fn fail(&self) {
        run("sync", &["-f", self.mount_point.to_str().unwrap()]).unwrap();
        let source = run(
            "findmnt",
            &["-n", "-o", "SOURCE", self.mount_point.to_str().unwrap()],
        )
        .unwrap();
        let device = Path::new(source.trim()).file_name().unwrap().to_owned();
        let trigger = Path::new("/sys/fs/ext4")
            .join(device)
            .join("trigger_fs_error");
        std::fs::write(&trigger, "gatehouse test: simulated I/O error").unwrap();
        assert!(
            std::fs::write(self.mount_point.join("probe"), "x").is_err(),
            "the volume should be read-only now"
        );
    }

    /// What an operator does: unmount, check the file system, mount it again. The unmount
    /// succeeds only once nothing holds a file on the volume open: gatehouse must have let go.
    fn repair(&self) {
        let started = Instant::now();
        while let Err(busy) = run("umount", &[self.mount_point.to_str().unwrap()]) {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "gatehouse still holds the failed volume after 10 s: {busy}\n{}",
                run("lsof", &["+D", self.mount_point.to_str().unwrap()]).unwrap_or_else(|e| e)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let fsck = Command::new("e2fsck")
            .args(["-f", "-y", self.image().to_str().unwrap()])
            .output()
            .unwrap();
        // 0: clean; 1: errors corrected.
        assert!(
            matches!(fsck.status.code(), Some(0 | 1)),
            "e2fsck: {}",
            String::from_utf8_lossy(&fsck.stdout)
        );
        self.mount().unwrap();
    }

    fn data_dir(&self) -> PathBuf {
        self.mount_point.join("gatehouse")
    }
}

impl Drop for Volume {
    fn drop(&mut self) {
        let _ = run("umount", &["-l", self.mount_point.to_str().unwrap_or("")]);
    }
}

/// The volume, or `None` (after saying why) where the machine cannot mount one.
fn volume() -> Option<Volume> {
    match Volume::create() {
        Ok(volume) => Some(volume),
        Err(reason) if std::env::var_os("CI").is_none() => {
            eprintln!(
                "skipped: cannot mount an ext4 volume on a loop device (needs root): {reason}"
            );
            None
        }
        Err(reason) => panic!("cannot mount an ext4 volume on a loop device: {reason}"),
    }
}

#[tokio::test]
async fn a_read_only_audit_volume_refuses_everything_and_its_repair_needs_no_restart() {
    let Some(volume) = volume() else {
        return;
    };
    let (_db, gateway, direct) = support::items_behind_gateway(Options {
        data_dir: Some(volume.data_dir()),
        ..Options::default()
    })
    .await;
    let token = gateway.key("bo", &["writers"]);
    let other_token = gateway.key("cy", &["writers"]);
    let client = gateway.connect("bo", &token).await.unwrap();
    client
        .simple_query("INSERT INTO items VALUES (3, 'three')")
        .await
        .unwrap();

    volume.fail();

    // Every request is refused: writes, reads, and new sessions.
    for sql in [
        "INSERT INTO items VALUES (4, 'four')",
        "SELECT count(*) FROM items",
    ] {
        let refused = client.simple_query(sql).await.unwrap_err();
        assert_eq!(
            support::sqlstate(&refused).as_deref(),
            Some("58000"),
            "{sql}: {refused:?}"
        );
        assert!(
            support::message(&refused).contains("audit log is unavailable"),
            "{refused:?}"
        );
    }
    let refused = gateway.connect("cy", &other_token).await.err().unwrap();
    assert!(
        format!("{refused:?}").contains("audit"),
        "a new session is refused, saying why: {refused:?}"
    );
    assert_eq!(
        support::count(&direct, "items").await,
        3,
        "nothing reached PostgreSQL"
    );
    assert!(gateway.log().contains("the store's volume failed"));

    volume.repair();

    // The same session works again, without a restart of the gateway.
    let started = Instant::now();
    loop {
        match client
            .simple_query("INSERT INTO items VALUES (5, 'five')")
            .await
        {
            Ok(_) => break,
            Err(error) => assert!(
                started.elapsed() < Duration::from_secs(10),
                "the session did not recover within 10 s of the repair: {error:?}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(support::count(&direct, "items").await, 4);
    let other = gateway.connect("cy", &other_token).await.unwrap();
    other.simple_query("SELECT 1").await.unwrap();
    assert!(
        gateway.log().contains("the store works again"),
        "{}",
        gateway.log()
    );

    // What the gateway reads now is the repaired store: a key revoked there ends the session.
    let key_id = token
        .strip_prefix("gh_")
        .and_then(|rest| rest.split('_').next())
        .unwrap();
    let revoked = gateway.cli(&["keys", "revoke", key_id]);
    assert!(
        revoked.status.success(),
        "{}",
        String::from_utf8_lossy(&revoked.stderr)
    );
    let started = Instant::now();
    loop {
        if client.simple_query("SELECT 1").await.is_err() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the revoked key's session was not ended: the gateway reads a stale store"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let events = gateway.audit_events();
    let statements: Vec<&str> = events
        .iter()
        .filter(|e| e["kind"] == "statement")
        .filter_map(|e| e["statement"].as_str())
        .collect();
    assert!(statements.contains(&"INSERT INTO items VALUES (5, 'five')"));
    assert!(!statements.contains(&"INSERT INTO items VALUES (4, 'four')"));
    gateway.assert_audit_verifies();
}
