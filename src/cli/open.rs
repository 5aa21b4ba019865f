//! Opening an archive for reading through a memory map.

use super::{CliError, CliResult};
use memmap2::Mmap;
use std::fs::File;
use std::path::Path;

/// Maps the archive read-only. (A map of a file that another process truncates meanwhile can
/// fault; bsar, like other mmap readers, accepts that risk for archives in use.)
pub fn map_archive(path: &Path) -> CliResult<Mmap> {
    let shown = path.display();
    let file = File::open(path).map_err(|e| CliError(format!("{shown}: {e}")))?;
    let len = file
        .metadata()
        .map_err(|e| CliError(format!("{shown}: {e}")))?
        .len();
    if len == 0 {
        // Mapping an empty file fails on some systems; this gives the same message as any short file.
        return Err(CliError(format!(
            "{shown}: not a bsar archive, or truncated: 0 bytes is shorter than any archive"
        )));
    }
    // SAFETY: the map is read-only; see the note above about concurrent truncation.
    unsafe { Mmap::map(&file) }.map_err(|e| CliError(format!("{shown}: cannot map: {e}")))
}
