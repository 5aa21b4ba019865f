//! `bsar extract`: restore members under a target directory. Every selected path is checked
//! before anything is written; while writing, bsar never follows a symlink (an existing one in
//! the way of a parent directory stops the extraction), and never replaces an existing file
//! unless `--overwrite` is given.

use super::args::ExtractArgs;
use super::open::map_archive;
use super::paths::{check_link_target, check_member_path, under};
use super::progress::bytes_bar;
use super::reading::{ChunkStream, StreamState};
use super::select::select;
use super::summary::{images_phrase, members_phrase, totals};
use super::{CliError, CliResult};
use crate::archive::{Archive, Content, Kind, MemberEntry, Restored, NO_CHUNK};
use std::collections::HashSet;
use std::ffi::OsStr;
use std::fs::{self, File, FileTimes, OpenOptions, Permissions};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub fn run(a: ExtractArgs) -> CliResult<()> {
    let engine = super::device::choose(a.device)?;
    let reading = super::reading::reading(&engine, a.threads);
    let map = map_archive(&a.archive)?;
    let shown = a.archive.display();
    let archive = Archive::parse(&map).map_err(|e| CliError(format!("{shown}: {e}")))?;
    let members = archive.members();
    let mut picked = select(members, &a.members)?;
    for &i in &picked {
        let m = &members[i];
        let refuse = |why: String| {
            CliError(format!(
                "{shown}: refusing to extract member '{}': {why}",
                m.shown()
            ))
        };
        check_member_path(&m.path).map_err(refuse)?;
        if m.kind == Kind::Symlink {
            check_link_target(&m.path, &m.link).map_err(refuse)?;
        }
    }
    fs::create_dir_all(&a.dir).map_err(|e| CliError(format!("{}: {e}", a.dir.display())))?;
    let registry = super::reading_registry(&engine, reading.threads);
    let total: u64 = picked.iter().map(|&i| members[i].size).sum();
    let bar = bytes_bar(total, "extract");
    let mut x = Extractor {
        root: a.dir.clone(),
        overwrite: a.overwrite,
        safe_dirs: HashSet::new(),
        dirs: Vec::new(),
    };
    // The furthest selected item of each chunk: decoding stops there.
    let mut upto = vec![0usize; archive.index.chunks.len()];
    for &i in &picked {
        let m = &members[i];
        if m.kind == Kind::File && m.chunk != NO_CHUNK {
            let u = &mut upto[m.chunk as usize];
            *u = (*u).max(m.position as usize);
        }
    }
    // Directories and symlinks first, in archive order, then file contents chunk by chunk, so
    // that each chunk is decoded once and only as far as needed (image and byte chunks
    // interleave in archive order). A file whose parent is one of those symlinks is refused when
    // its turn comes.
    picked.sort_by_key(|&i| {
        let m = &members[i];
        match m.kind {
            Kind::File => (1, m.chunk as u64, m.position, i),
            _ => (0, 0, 0, i),
        }
    });
    // Large files stored alone in their chunk are streamed to disk as they decode, on this
    // thread, rather than held whole; the workers decode the other chunks.
    let streamed: HashSet<usize> = picked
        .iter()
        .copied()
        .filter(|&i| archive.streams(i, &registry))
        .collect();
    let mut order: Vec<(usize, usize)> = Vec::new();
    for &i in &picked {
        let m = &members[i];
        let c = m.chunk as usize;
        if m.kind == Kind::File
            && m.chunk != NO_CHUNK
            && !streamed.contains(&i)
            && order.last().map(|o| o.0) != Some(c)
        {
            order.push((c, upto[c]));
        }
    }
    // Like tar, a damaged chunk does not stop the extraction: every member that can be restored
    // is, each one lost is named, and the exit status says so at the end.
    let mut lost = Lost::default();
    // Chunks are decoded, and image files rebuilt, on every core ahead of the files being
    // written.
    let state = StreamState::new();
    // A member checked through its file comes with the file the check rebuilt.
    let restore = |mi: usize, item: Restored| match (members[mi].content, item.file) {
        (_, Some(file)) => Ok(file),
        (Content::Pixels | Content::Pixels16, None) => image_file(&members[mi], &item.content),
        (Content::Bytes, None) => Ok(item.content),
    };
    std::thread::scope(|s| -> CliResult<()> {
        let mut cache =
            ChunkStream::start(s, &state, &archive, &registry, &order, &reading, &restore);
        for &i in &picked {
            let m = &members[i];
            if streamed.contains(&i) {
                let mut why = None;
                x.restore_file(m, &mut |f| {
                    archive
                        .stream_member(i, &registry, f, &mut |at, len| release(&map, at, len))
                        .map_err(|e| why = Some(e))
                })
                .map_err(|e| CliError(format!("{}: {e}", m.shown())))?;
                match why {
                    Some(crate::archive::Error::Io(e)) => {
                        return Err(CliError(format!("{}: {e}", m.shown())))
                    }
                    Some(e) => lost.member(m, m.chunk, &format!("{shown}: {e}")),
                    None => {}
                }
                bar.inc(m.size);
                continue;
            }
            let content: &[u8] = if m.kind == Kind::File && m.chunk != NO_CHUNK {
                match cache.get(m.chunk as usize) {
                    Ok(items) => match &items[m.position as usize] {
                        Ok(content) => content,
                        Err(e) => {
                            lost.member(m, NO_CHUNK, e);
                            continue;
                        }
                    },
                    Err(e) => {
                        lost.member(m, m.chunk, &format!("{shown}: {e}"));
                        continue;
                    }
                }
            } else {
                &[]
            };
            x.restore(m, content)
                .map_err(|e| CliError(format!("{}: {e}", m.shown())))?;
            bar.inc(m.size);
        }
        Ok(())
    })?;
    x.finish_dirs().map_err(CliError)?;
    bar.finish_and_clear();
    lost.result(&shown.to_string(), "restored", "extracted")?;
    if !a.quiet {
        let set: HashSet<usize> = picked.iter().copied().collect();
        let t = totals(members, &archive.index.chunks, |i| set.contains(&i));
        println!(
            "extracted {}: {} bytes from {shown}{}",
            members_phrase(&t),
            t.content_bytes,
            images_phrase(&t)
        );
    }
    Ok(())
}

/// Members that could not be restored, and the damaged chunks that held them: each damage is
/// said on stderr once, with every member it costs.
#[derive(Default)]
pub(super) struct Lost {
    members: usize,
    chunks: Vec<u32>,
}

impl Lost {
    /// Records that `m` (held by `chunk`, or NO_CHUNK for damage of its own) is lost to `why`.
    pub(super) fn member(&mut self, m: &MemberEntry, chunk: u32, why: &str) {
        if chunk == NO_CHUNK || !self.chunks.contains(&chunk) {
            eprintln!("bsar: {why}");
            if chunk != NO_CHUNK {
                self.chunks.push(chunk);
            }
        }
        eprintln!("bsar: damaged member: {}", m.shown());
        self.members += 1;
    }

    /// The command's result: an error naming the count when anything was lost.
    pub(super) fn result(&self, archive: &str, verb: &str, rest: &str) -> CliResult<()> {
        if self.members == 0 {
            return Ok(());
        }
        let chunks = match self.chunks.len() {
            0 => String::new(),
            1 => " in 1 damaged chunk".to_string(),
            n => format!(" in {n} damaged chunks"),
        };
        Err(CliError(format!(
            "{archive}: {} could not be {verb}{chunks}; the other members were {rest}",
            match self.members {
                1 => "1 member".to_string(),
                n => format!("{n} members"),
            }
        )))
    }
}

struct Extractor {
    root: PathBuf,
    overwrite: bool,
    /// Directories (relative paths) known to be real directories, made or checked by us.
    safe_dirs: HashSet<Vec<u8>>,
    /// Directory members, to get their mode and mtime once their contents are written.
    dirs: Vec<(PathBuf, u32, SystemTime)>,
}

impl Extractor {
    fn restore(&mut self, m: &MemberEntry, content: &[u8]) -> Result<(), String> {
        self.make_parents(&m.path)?;
        let path = under(&self.root, &m.path);
        let mtime = to_system_time(m.mtime_sec, m.mtime_nsec);
        match m.kind {
            Kind::Dir => {
                match fs::symlink_metadata(&path) {
                    Ok(meta) if meta.is_dir() => {}
                    Ok(_) => return Err("exists and is not a directory".into()),
                    Err(_) => fs::create_dir(&path).map_err(|e| e.to_string())?,
                }
                self.safe_dirs.insert(m.path.clone());
                self.dirs.push((path, m.mode, mtime));
            }
            Kind::File => {
                self.write_file(m, &path, &mut |f| {
                    f.write_all(content).map_err(|e| e.to_string())?;
                    Ok(true)
                })?;
            }
            Kind::Symlink => {
                self.clear_way(&path)?;
                let target = Path::new(OsStr::from_bytes(&m.link));
                std::os::unix::fs::symlink(target, &path).map_err(|e| e.to_string())?;
            }
        }
        Ok(())
    }

    /// Restores file member `m`, whose content `write` writes (streaming it, say); where `write`
    /// fails (damage found on the way), the file is removed, `Ok` is returned, and the failure
    /// is the caller's to report.
    fn restore_file(
        &mut self,
        m: &MemberEntry,
        write: &mut dyn FnMut(&mut dyn Write) -> Result<(), ()>,
    ) -> Result<(), String> {
        self.make_parents(&m.path)?;
        let path = under(&self.root, &m.path);
        self.write_file(m, &path, &mut |f| {
            let mut out = std::io::BufWriter::with_capacity(1 << 20, &mut *f);
            let written = write(&mut out).is_ok();
            out.flush().map_err(|e| e.to_string())?;
            Ok(written)
        })
    }

    /// Creates file `path` for member `m` (never through a symlink, nor over what is there unless
    /// overwriting), lets `write` fill it, then sets its mode and mtime. Where `write` answers
    /// false, the file is removed instead.
    fn write_file(
        &self,
        m: &MemberEntry,
        path: &Path,
        write: &mut dyn FnMut(&mut File) -> Result<bool, String>,
    ) -> Result<(), String> {
        self.clear_way(path)?;
        // Listed as incomplete until written, so that an interruption removes it.
        let (incomplete, mut f) = super::interrupt::begin(
            || {
                OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(path)
            },
            |_| path.to_path_buf(),
        )
        .map_err(|e| e.to_string())?;
        if !write(&mut f)? {
            drop(f);
            let _ = fs::remove_file(path);
            drop(incomplete);
            return Ok(());
        }
        f.set_permissions(Permissions::from_mode(m.mode & 0o777))
            .map_err(|e| e.to_string())?;
        let mtime = to_system_time(m.mtime_sec, m.mtime_nsec);
        f.set_times(FileTimes::new().set_modified(mtime))
            .map_err(|e| e.to_string())?;
        drop(f);
        drop(incomplete);
        Ok(())
    }

    /// Makes sure every parent of `rel` is a real directory under the root, creating missing ones.
    fn make_parents(&mut self, rel: &[u8]) -> Result<(), String> {
        let parts: Vec<&[u8]> = rel.split(|&b| b == b'/').collect();
        let mut prefix: Vec<u8> = Vec::new();
        for part in &parts[..parts.len() - 1] {
            if !prefix.is_empty() {
                prefix.push(b'/');
            }
            prefix.extend_from_slice(part);
            if self.safe_dirs.contains(&prefix) {
                continue;
            }
            let p = under(&self.root, &prefix);
            match fs::symlink_metadata(&p) {
                Ok(meta) if meta.is_dir() => {}
                Ok(meta) if meta.file_type().is_symlink() => {
                    return Err(format!(
                        "refusing to write through symlink '{}'",
                        crate::archive::show_path(&prefix)
                    ))
                }
                Ok(_) => {
                    return Err(format!(
                        "'{}' is not a directory",
                        crate::archive::show_path(&prefix)
                    ))
                }
                Err(_) => fs::create_dir(&p).map_err(|e| e.to_string())?,
            }
            self.safe_dirs.insert(prefix.clone());
        }
        Ok(())
    }

    /// Removes what is at `path` if overwriting is allowed (never a directory), else refuses.
    fn clear_way(&self, path: &Path) -> Result<(), String> {
        match fs::symlink_metadata(path) {
            Err(_) => Ok(()),
            Ok(meta) if meta.is_dir() => Err("exists and is a directory".into()),
            Ok(_) if !self.overwrite => {
                Err("already exists (use --overwrite to replace it)".into())
            }
            // Removing (not opening) the old entry means a symlink there is replaced, not followed.
            Ok(_) => fs::remove_file(path).map_err(|e| e.to_string()),
        }
    }

    /// Applies directory modes and mtimes, deepest first, after their contents are written.
    fn finish_dirs(&mut self) -> Result<(), String> {
        for (path, mode, mtime) in self.dirs.iter().rev() {
            let shown = path.display();
            if let Ok(d) = File::open(path) {
                let _ = d.set_times(FileTimes::new().set_modified(*mtime));
            }
            fs::set_permissions(path, Permissions::from_mode(mode & 0o777))
                .map_err(|e| format!("{shown}: {e}"))?;
        }
        Ok(())
    }
}

/// Drops the pages of `map` from `at` to `at + len`, read for the last time: a streamed member's
/// chunk would otherwise stay resident, as large as the member.
pub(super) fn release(map: &memmap2::Mmap, at: u64, len: u64) {
    use memmap2::UncheckedAdvice;
    // SAFETY: the map is read-only and file-backed, so dropped pages are read again from the file
    // when touched again: no reference into the map sees other bytes.
    let _ =
        unsafe { map.unchecked_advise_range(UncheckedAdvice::DontNeed, at as usize, len as usize) };
}

fn to_system_time(sec: i64, nsec: u32) -> SystemTime {
    let t = if sec >= 0 {
        UNIX_EPOCH.checked_add(Duration::new(sec as u64, nsec))
    } else {
        UNIX_EPOCH
            .checked_sub(Duration::from_secs(sec.unsigned_abs()))
            .and_then(|t| t.checked_add(Duration::from_nanos(nsec as u64)))
    };
    t.unwrap_or(UNIX_EPOCH)
}

/// Rebuilds an image file from its decoded pixels and the member's wrapper (spec/format.md 4.5).
pub(super) fn image_file(m: &MemberEntry, pixels: &[u8]) -> Result<Vec<u8>, String> {
    crate::imageio::rebuild(&m.wrapper, m.image_header(), pixels.to_vec())
        .map_err(|e| format!("member '{}': {e}", m.shown()))
}
