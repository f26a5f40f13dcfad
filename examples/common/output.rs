//! Checks the examples make on an output path before any work: a report or an index written over one of the
//! run's inputs (the index being scanned, a catalog or listing photo) would destroy it, and a folder given as the
//! output would only fail once the work is done.

use std::io::Read;
use std::path::Path;

use anyhow::bail;

/// Refuses `output` when it is a folder, one of `inputs` (the same file under any name), in no folder, or an
/// existing photo.
pub fn check(flag: &str, output: &Path, inputs: &[&Path]) -> anyhow::Result<()> {
    not_an_input(flag, output, inputs)?;
    let mut head = Vec::with_capacity(16);
    if let Ok(file) = std::fs::File::open(output)
        && file.metadata().is_ok_and(|m| m.is_file())
    {
        let _ = file.take(16).read_to_end(&mut head);
    }
    if image::guess_format(&head).is_ok() {
        bail!("{flag} {}: is a photo; refusing to write over it", output.display());
    }
    Ok(())
}

/// Refuses `output` when it is a folder, one of `inputs` (the same file under any name), or in no folder.
pub fn not_an_input(flag: &str, output: &Path, inputs: &[&Path]) -> anyhow::Result<()> {
    let Ok(meta) = std::fs::metadata(output) else {
        // Not there yet: its folder must be (else writing it would fail once the work is done).
        if let Some(parent) = output.parent().filter(|p| !p.as_os_str().is_empty())
            && !parent.is_dir()
        {
            bail!("{flag} {}: no such folder {}", output.display(), parent.display());
        }
        return Ok(());
    };
    if meta.is_dir() {
        bail!("{flag} {}: is a folder; name a file", output.display());
    }
    let target = std::fs::canonicalize(output).ok();
    for input in inputs {
        if target.is_some() && std::fs::canonicalize(input).ok() == target || same_file(&meta, input) {
            bail!("{flag} {}: is the input {}; writing it would destroy it", output.display(), input.display());
        }
    }
    Ok(())
}

/// Whether `input` is the file `output` (its metadata) is, under another name: a hard link has its own path.
#[cfg(unix)]
fn same_file(output: &std::fs::Metadata, input: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(input).is_ok_and(|m| m.dev() == output.dev() && m.ino() == output.ino())
}

#[cfg(not(unix))]
fn same_file(_: &std::fs::Metadata, _: &Path) -> bool {
    false
}
