//! Interrupted runs clean up after themselves. A file that `create` or `extract` is still writing
//! (the temporary archive, a member being restored) is listed here while it is incomplete; when
//! SIGINT, SIGTERM or SIGHUP ends the process, the listed files are removed first, as zstd's CLI
//! removes its incomplete output. The process then dies of the signal as it would have without a
//! handler, so a shell sees the usual status (130 for SIGINT, 143 for SIGTERM).
//!
//! The list is guarded by one lock, held while a file is created and listed and while it is
//! finished and unlisted, so the handler never sees a file that exists but is not yet listed, nor
//! removes one that was just renamed into place.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

static INCOMPLETE: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn incomplete() -> MutexGuard<'static, Vec<PathBuf>> {
    // A thread that panicked while holding the lock left the list intact: every change is one push
    // or one removal.
    INCOMPLETE.lock().unwrap_or_else(|e| e.into_inner())
}

/// A file on the list of incomplete files, removed from the list (not from disk) when dropped.
#[must_use = "dropping it at once unlists the file"]
pub struct Incomplete {
    path: PathBuf,
}

/// Runs `make`, which creates a file, and lists the file `path_of` names as incomplete, both under
/// the lock, so that an interruption either comes before the file exists or finds it listed.
///
/// The listing comes first in the pair, so that `let (listed, file) = begin(..)?` drops (closes or
/// deletes) the file before it unlists it.
pub fn begin<T, E>(
    make: impl FnOnce() -> Result<T, E>,
    path_of: impl FnOnce(&T) -> PathBuf,
) -> Result<(Incomplete, T), E> {
    let mut list = incomplete();
    let made = make()?;
    let path = path_of(&made);
    list.push(path.clone());
    Ok((Incomplete { path }, made))
}

/// A `.bsar-tmp-*` file in `dir` (what `create` and the manifest writer write before renaming),
/// listed as incomplete.
pub fn temporary_in(dir: &Path) -> std::io::Result<(Incomplete, tempfile::NamedTempFile)> {
    begin(
        || {
            tempfile::Builder::new()
                .prefix(".bsar-tmp-")
                .tempfile_in(dir)
        },
        |t| t.path().to_path_buf(),
    )
}

impl Incomplete {
    /// Runs `finish` (a rename into place, say) and unlists the file, both under the lock.
    pub fn finish<R>(self, finish: impl FnOnce() -> R) -> R {
        let mut list = incomplete();
        let r = finish();
        unlist(&mut list, &self.path);
        std::mem::forget(self);
        r
    }
}

impl Drop for Incomplete {
    fn drop(&mut self) {
        unlist(&mut incomplete(), &self.path);
    }
}

fn unlist(list: &mut Vec<PathBuf>, path: &Path) {
    if let Some(i) = list.iter().rposition(|p| p == path) {
        list.swap_remove(i);
    }
}

/// The files listed as incomplete now (for tests).
pub fn listed() -> Vec<PathBuf> {
    incomplete().clone()
}

/// Installs the handler for SIGINT, SIGTERM and SIGHUP. Only the command-line tool calls it: a
/// library or the Python package leaves its host's signals alone.
pub fn install() -> std::io::Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])?;
    std::thread::Builder::new()
        .name("bsar-signals".into())
        .spawn(move || {
            if let Some(signal) = signals.forever().next() {
                // Taking the lock waits out a file being created or renamed; it is never given
                // back, so nothing new is listed or finished while the process ends.
                let list = incomplete();
                for path in list.iter() {
                    let _ = std::fs::remove_file(path);
                }
                let _ = signal_hook::low_level::emulate_default_handler(signal);
                // Where the default action could not be restored, exit as a shell reports it.
                std::process::exit(128 + signal);
            }
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_listed_from_its_creation_until_it_is_finished_or_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a");
        let (listed_a, file) = begin(|| std::fs::File::create(&path), |_| path.clone()).unwrap();
        assert!(listed().contains(&path));
        drop(file);
        let renamed = dir.path().join("b");
        listed_a
            .finish(|| std::fs::rename(&path, &renamed))
            .unwrap();
        assert!(!listed().contains(&path));
        assert!(renamed.exists());

        let (listed_c, _file) = begin(
            || std::fs::File::create(dir.path().join("c")),
            |_| dir.path().join("c"),
        )
        .unwrap();
        assert!(listed().contains(&dir.path().join("c")));
        drop(listed_c);
        assert!(!listed().contains(&dir.path().join("c")));
    }

    #[test]
    fn a_file_that_cannot_be_made_is_not_listed() {
        let made = begin(
            || std::fs::File::open("/nonexistent/bsar/interrupt"),
            |_| PathBuf::from("/nonexistent/bsar/interrupt"),
        );
        assert!(made.is_err());
        assert!(!listed().contains(&PathBuf::from("/nonexistent/bsar/interrupt")));
    }
}
