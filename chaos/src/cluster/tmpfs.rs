//! As root, each node's data dir is its own size-limited tmpfs, so `disk-full` can fill one
//! node's disk without touching the others (tmpfs takes memory only for what is written).
//! Mounted when the node specs are made, unmounted when the guard drops: on success, on error
//! and on Ctrl-C (the campaign future is dropped, the processes first). A harness killed with
//! SIGKILL leaves its mounts; the next run unmounts those whose pid (in the mount's source
//! name, `ofchaos-<pid>`) no longer runs.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{ensure, Context};

/// The size of each node's tmpfs: a 17-cycle campaign writes a few MiB per node.
pub const SIZE_MIB: u64 = 256;
/// The source name of every mount of this harness: `ofchaos-<pid>`.
const SOURCE_PREFIX: &str = "ofchaos-";

/// Why data dirs cannot be tmpfs mounts here, if they cannot.
pub fn unavailable() -> Option<String> {
    if !nix::unistd::Uid::effective().is_root() {
        return Some("not root: the data dirs cannot be mounted as size-limited tmpfs".into());
    }
    None
}

/// One mounted data dir, unmounted on drop.
#[derive(Debug)]
pub struct Mount {
    dir: PathBuf,
}

impl Mount {
    /// Mount a tmpfs of [`SIZE_MIB`] on `dir` (created).
    pub fn new(dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("create `{}`", dir.display()))?;
        let source = format!("{SOURCE_PREFIX}{}", std::process::id());
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o"])
            .arg(format!("size={SIZE_MIB}m,mode=0700"))
            .arg(&source)
            .arg(dir)
            .output()
            .context("run mount")?;
        ensure!(
            out.status.success(),
            "mount tmpfs on `{}`: {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
        Ok(Self {
            dir: dir.to_path_buf(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        unmount(&self.dir);
    }
}

/// `umount`, lazily if something still holds it.
fn unmount(dir: &Path) {
    let ok = Command::new("umount")
        .arg(dir)
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        let _ = Command::new("umount").arg("-l").arg(dir).output();
    }
}

/// Whether `dir` is a mount point (its device differs from its parent's).
pub fn is_mount_point(dir: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let (Ok(m), Some(parent)) = (std::fs::metadata(dir), dir.parent()) else {
        return false;
    };
    std::fs::metadata(parent).is_ok_and(|p| p.dev() != m.dev())
}

/// Unmount the tmpfs mounts of harness runs that no longer run.
pub fn sweep_stale() {
    let Ok(mounts) = std::fs::read_to_string("/proc/self/mounts") else {
        return;
    };
    for (source, dir) in stale(&mounts, |pid| Path::new(&format!("/proc/{pid}")).exists()) {
        eprintln!("openfero-chaos: unmounting `{dir}` ({source}, left by a killed run)");
        unmount(Path::new(&dir));
    }
}

/// The `(source, mount point)` of tmpfs mounts named after a pid that `alive` says is gone.
fn stale(mounts: &str, alive: impl Fn(u32) -> bool) -> Vec<(String, String)> {
    mounts
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (source, dir, kind) = (f.next()?, f.next()?, f.next()?);
            let pid: u32 = source.strip_prefix(SOURCE_PREFIX)?.parse().ok()?;
            (kind == "tmpfs" && pid != std::process::id() && !alive(pid))
                .then(|| (source.to_string(), dir.to_string()))
        })
        .collect()
}

/// Fill the filesystem holding `path` with the file `path`: zeros until the device is full.
/// Returns the bytes written.
pub fn fill(path: &Path) -> anyhow::Result<u64> {
    use std::io::Write;
    let mut f =
        std::fs::File::create(path).with_context(|| format!("create `{}`", path.display()))?;
    let mut written = 0u64;
    for chunk in [1 << 20, 4096, 512] {
        let zeros = vec![0u8; chunk];
        loop {
            match f.write(&zeros) {
                Ok(0) => break,
                Ok(n) => written += n as u64,
                Err(e) if e.raw_os_error() == Some(nix::libc::ENOSPC) => break,
                Err(e) => return Err(e).context(format!("fill `{}`", path.display())),
            }
        }
    }
    Ok(written)
}

/// Remove everything inside `dir`, keeping `dir` (a mount point) itself.
pub fn clear(dir: &Path) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("read `{}`", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() && !path.is_symlink() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        }
        .with_context(|| format!("remove `{}`", path.display()))?;
    }
    Ok(())
}

/// Copy the tree `from` into `to` (created): files, folders and symlinks.
pub fn copy_tree(from: &Path, to: &Path) -> anyhow::Result<u64> {
    std::fs::create_dir_all(to).with_context(|| format!("create `{}`", to.display()))?;
    let mut bytes = 0;
    for entry in std::fs::read_dir(from).with_context(|| format!("read `{}`", from.display()))? {
        let entry = entry?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let kind = entry.file_type()?;
        if kind.is_dir() {
            bytes += copy_tree(&src, &dst)?;
        } else if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&src)?, &dst)?;
        } else {
            bytes +=
                std::fs::copy(&src, &dst).with_context(|| format!("copy `{}`", src.display()))?;
        }
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_mounts_of_runs_that_are_gone_are_stale() {
        let me = std::process::id();
        let mounts = format!(
            "ofchaos-1 /tmp/a/data-n1 tmpfs rw 0 0\n\
             ofchaos-2 /tmp/b/data-n1 tmpfs rw 0 0\n\
             ofchaos-{me} /tmp/c/data-n1 tmpfs rw 0 0\n\
             tmpfs /run tmpfs rw 0 0\n\
             ofchaos-1 /tmp/d proc rw 0 0\n"
        );
        assert_eq!(
            stale(&mounts, |pid| pid == 2),
            vec![("ofchaos-1".to_string(), "/tmp/a/data-n1".to_string())]
        );
    }

    #[test]
    fn a_tree_copied_and_cleared_keeps_its_root() {
        let dir = tempfile::tempdir().expect("tempdir");
        let from = dir.path().join("from");
        std::fs::create_dir_all(from.join("sub")).expect("mkdir");
        std::fs::write(from.join("db"), b"12345").expect("write");
        std::fs::write(from.join("sub/x"), b"1").expect("write");
        let to = dir.path().join("to");
        assert_eq!(copy_tree(&from, &to).expect("copy"), 6);
        assert_eq!(std::fs::read(to.join("sub/x")).expect("read"), b"1");
        clear(&to).expect("clear");
        assert!(to.is_dir());
        assert_eq!(std::fs::read_dir(&to).expect("read").count(), 0);
        assert!(!is_mount_point(&to));
    }
}
