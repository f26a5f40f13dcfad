//! Files written whole or not at all: into a temporary file beside the target, fsynced, renamed over it, then the
//! folder fsynced. A crash, a full disk or a failed write leaves the previous file (or none), never a broken one.
//! The index's [`save`](crate::ReferenceIndex::save) and the examples' HTML reports write this way.

use std::fs::File;
use std::path::{Path, PathBuf};

use crate::error::{Error, ErrorKind, Result};

/// Writes `path` through `write`, which gets the temporary file, atomically.
///
/// A symlink at `path` is written through: its target gets the new content and the link stays. Anything else that
/// is not a regular file (a device, a pipe, a folder, a dangling link) is refused rather than replaced. The
/// temporary file is `.NAME.tmp-PID`, created new (never written through whatever sits at that name); those left
/// by writes that were killed (their process gone) are removed first.
///
/// ```
/// use std::io::Write;
/// let path = std::env::temp_dir().join(format!("knockoff-atomic-doc-{}.txt", std::process::id()));
/// knockoff::atomic::write_file(&path, |file| {
///     file.write_all(b"whole").map_err(|e| knockoff::Error::new(knockoff::ErrorKind::Write(e)))
/// })?;
/// assert_eq!(std::fs::read(&path)?, b"whole");
/// # std::fs::remove_file(&path)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`ErrorKind::NotRegularFile`] for a target that is not a regular file; [`ErrorKind::Write`] if writing,
/// syncing or renaming fails; whatever `write` returns. Errors without a path get `path`; the previous file at
/// `path`, if any, is then untouched and the temporary file removed.
pub fn write_file(path: &Path, write: impl FnOnce(&mut File) -> Result<()>) -> Result<()> {
    let named = |e: Error| if e.path().is_some() { e } else { e.with_path(path) };
    let target = save_target(path).map_err(named)?;
    let file_name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "file".into());
    remove_stale_temps(&target, &file_name);
    let temp = target.with_file_name(format!("{}{}", temp_prefix(&file_name), std::process::id()));
    let failed = |e: std::io::Error| Error::new(ErrorKind::Write(e));
    let attempt = || -> Result<()> {
        // Never through whatever sits at the temporary name (a leftover of ours, or a planted symlink).
        let _ = std::fs::remove_file(&temp);
        let mut file = std::fs::OpenOptions::new().write(true).create_new(true).open(&temp).map_err(failed)?;
        write(&mut file)?;
        file.sync_all().map_err(failed)?;
        drop(file);
        std::fs::rename(&temp, &target).map_err(failed)?;
        // Make the rename itself durable.
        #[cfg(unix)]
        if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
            File::open(dir).and_then(|d| d.sync_all()).map_err(failed)?;
        }
        Ok(())
    };
    attempt().map_err(named).inspect_err(|_| {
        let _ = std::fs::remove_file(&temp);
    })
}

/// The file to write for a save to `path`: `path` itself, or the regular file a symlink there points to.
fn save_target(path: &Path) -> Result<PathBuf> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(path.to_path_buf()),
        Err(e) => return Err(Error::new(ErrorKind::Write(e))),
    };
    if meta.is_file() {
        return Ok(path.to_path_buf());
    }
    if !meta.file_type().is_symlink() {
        return Err(Error::new(ErrorKind::NotRegularFile(crate::decode::file_type_name(&meta.file_type()))));
    }
    // Renaming over a symlink would replace the link and leave its target stale: write the target instead.
    let real = std::fs::canonicalize(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::new(ErrorKind::NotRegularFile("a symlink to nothing")),
        _ => Error::new(ErrorKind::Write(e)),
    })?;
    let meta = std::fs::metadata(&real).map_err(|e| Error::new(ErrorKind::Write(e)))?;
    if !meta.is_file() {
        return Err(Error::new(ErrorKind::NotRegularFile(crate::decode::file_type_name(&meta.file_type()))));
    }
    Ok(real)
}

/// Temporary files for `file_name` are this plus a process id.
fn temp_prefix(file_name: &str) -> String {
    format!(".{file_name}.tmp-")
}

/// Removes the temporary files of earlier saves of `target` whose process is gone (killed mid-save). A save in
/// progress in another live process keeps its file. Best effort: failures are ignored, the save goes on.
fn remove_stale_temps(target: &Path, file_name: &str) {
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let prefix = temp_prefix(file_name);
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.strip_prefix(&prefix)).and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if pid != std::process::id() && !process_is_alive(pid) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Whether process `pid` is running. Only Linux can tell cheaply (`/proc`); elsewhere every process counts as
/// alive, so nothing is removed that might be in use.
fn process_is_alive(pid: u32) -> bool {
    if cfg!(target_os = "linux") { Path::new("/proc").join(pid.to_string()).exists() } else { true }
}
