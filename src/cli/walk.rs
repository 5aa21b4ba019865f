//! Turning command-line paths into the ordered member list of a new archive: each argument in the
//! order given, directories depth-first with entries sorted by name bytes, so the same tree always
//! gives the same order. Symlinks are stored as links, never followed.

use super::paths::{check_link_target, name_for_arg};
use crate::archive::{show_path, Kind, MemberSpec};
use std::collections::HashSet;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The members to store and, for each, where it is on disk.
pub struct Walk {
    pub specs: Vec<MemberSpec>,
    pub sources: Vec<PathBuf>,
    /// Files (by device and inode) never to store: the archive being written.
    skip: HashSet<(u64, u64)>,
    seen: HashSet<Vec<u8>>,
    /// Some argument was an absolute path (its leading '/' is not stored).
    pub rooted: bool,
}

/// Walks `args`, each found under `base` when relative (tar's `-C`). Names are the arguments
/// as given, less a leading '/'; `rooted` says whether any had one, for tar's notice.
pub fn walk(base: &Path, args: &[PathBuf], skip: HashSet<(u64, u64)>) -> Result<Walk, String> {
    let mut w = Walk {
        specs: Vec::new(),
        sources: Vec::new(),
        skip,
        seen: HashSet::new(),
        rooted: false,
    };
    for arg in args {
        let (name, rooted) = name_for_arg(arg)?;
        w.rooted |= rooted;
        w.add(&base.join(arg), name)?;
    }
    Ok(w)
}

impl Walk {
    fn add(&mut self, disk: &Path, name: Vec<u8>) -> Result<(), String> {
        let shown = disk.display();
        let meta = fs::symlink_metadata(disk).map_err(|e| format!("'{shown}': {e}"))?;
        if self.skip.contains(&(meta.dev(), meta.ino())) {
            return Ok(());
        }
        let ft = meta.file_type();
        let kind = if ft.is_dir() {
            Kind::Dir
        } else if ft.is_file() {
            Kind::File
        } else if ft.is_symlink() {
            Kind::Symlink
        } else {
            return Err(format!(
                "'{shown}': unsupported file type (bsar stores files, directories and symlinks)"
            ));
        };
        // An empty name is the current directory given as "."; its contents are stored, not it.
        if !name.is_empty() {
            if !self.seen.insert(name.clone()) {
                return Err(format!("'{}' would be stored twice", show_path(&name)));
            }
            let link = if kind == Kind::Symlink {
                let t = fs::read_link(disk).map_err(|e| format!("'{shown}': {e}"))?;
                let t = t.as_os_str().as_bytes().to_vec();
                check_link_target(&name, &t).map_err(|e| format!("'{shown}': {e}"))?;
                t
            } else {
                Vec::new()
            };
            let sniffed = if kind == Kind::File && meta.len() > 0 {
                sniff(disk)
            } else {
                Sniffed::default()
            };
            self.specs.push(MemberSpec {
                path: name.clone(),
                kind,
                mode: meta.mode() & 0o7777,
                mtime_sec: meta.mtime(),
                mtime_nsec: meta.mtime_nsec().clamp(0, 999_999_999) as u32,
                size: if kind == Kind::File { meta.len() } else { 0 },
                link,
                image: sniffed.image,
                deep: sniffed.deep,
                jpeg: sniffed.jpeg,
                alone: sniffed.alone,
            });
            self.sources.push(disk.to_path_buf());
        }
        if kind == Kind::Dir {
            let mut entries: Vec<(Vec<u8>, PathBuf)> = Vec::new();
            for e in fs::read_dir(disk).map_err(|e| format!("'{shown}': {e}"))? {
                let e = e.map_err(|e| format!("'{shown}': {e}"))?;
                entries.push((e.file_name().as_bytes().to_vec(), e.path()));
            }
            entries.sort();
            for (file_name, path) in entries {
                let mut child = name.clone();
                if !child.is_empty() {
                    child.push(b'/');
                }
                child.extend_from_slice(&file_name);
                self.add(&path, child)?;
            }
        }
        Ok(())
    }
}

/// Reads the first bytes of a file to tell whether it may be stored as pixels, and whether it
/// looks like a JPEG file; any read error just means "no" here (reading the content later
/// reports it).
/// Whether the file is an image, a JPEG, and an image the image codec tiles (alone in its chunk).
/// What a file's first bytes say of how to plan it (the `MemberSpec` flags).
#[derive(Default)]
struct Sniffed {
    image: bool,
    deep: bool,
    jpeg: bool,
    alone: bool,
}

fn sniff(path: &Path) -> Sniffed {
    use std::io::Read;
    let mut head = [0u8; 512];
    let Ok(mut f) = fs::File::open(path) else {
        return Sniffed::default();
    };
    let mut n = 0;
    while n < head.len() {
        match f.read(&mut head[n..]) {
            Ok(0) | Err(_) => break,
            Ok(k) => n += k,
        }
    }
    let head = &head[..n];
    Sniffed {
        image: crate::imageio::looks_storable(head),
        deep: super::deep_image(head),
        jpeg: crate::imageio::looks_jpeg(head),
        alone: super::alone_in_chunk(head),
    }
}
