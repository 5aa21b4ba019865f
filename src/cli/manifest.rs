//! Shard manifests (`spec/shards.md`): a dataset too large for one archive is a set of .bsar
//! shards listed, with their sizes and CRC32s, in a small JSON file. `list`, `verify` and
//! `extract` take a manifest in place of an archive; the Python package writes them.

use super::{CliError, CliResult};
use serde::{Deserialize, Serialize};
use std::io::Read;
use std::path::{Path, PathBuf};

/// The value of the manifest's `format` field.
pub const FORMAT: &str = "bsar-shards";
/// The manifest version this bsar writes and reads.
pub const VERSION: u32 = 1;
/// A manifest is small (about 100 bytes a shard); a larger file is not one.
const MAX_MANIFEST: u64 = 64 << 20;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: String,
    pub version: u32,
    pub shards: Vec<Shard>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Shard {
    /// The shard's file name, relative to the manifest's directory.
    pub name: String,
    /// Members in the shard.
    pub members: u64,
    /// The shard file's length in bytes.
    pub bytes: u64,
    /// CRC32 of the whole shard file, as 8 lower-case hex digits.
    pub crc32: String,
}

/// Whether the file at `path` is a manifest rather than an archive: archives start with bsar's
/// magic number, manifests with `{` (after any whitespace).
pub fn is_manifest(path: &Path) -> bool {
    let mut head = [0u8; 64];
    let Ok(mut f) = std::fs::File::open(path) else {
        return false;
    };
    let n = f.read(&mut head).unwrap_or(0);
    head[..n]
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|&b| b == b'{')
}

/// Reads and checks a manifest; returns it with each shard's path.
pub fn read(path: &Path) -> CliResult<(Manifest, Vec<PathBuf>)> {
    let shown = path.display();
    let len = std::fs::metadata(path)
        .map_err(|e| CliError(format!("{shown}: {e}")))?
        .len();
    if len > MAX_MANIFEST {
        return Err(CliError(format!(
            "{shown}: not a valid shard manifest: {len} bytes is larger than any manifest"
        )));
    }
    let text = std::fs::read(path).map_err(|e| CliError(format!("{shown}: {e}")))?;
    let dir = path.parent().unwrap_or(Path::new(""));
    parse(&text, dir).map_err(|e| CliError(format!("{shown}: {e}")))
}

/// Parses and checks a manifest's bytes (spec/shards.md); shard paths are under `dir`.
pub fn parse(text: &[u8], dir: &Path) -> Result<(Manifest, Vec<PathBuf>), String> {
    let bad = |why: String| format!("not a valid shard manifest: {why}");
    let m: Manifest = serde_json::from_slice(text).map_err(|e| bad(e.to_string()))?;
    if m.format != FORMAT {
        return Err(bad(format!("format is '{}', not '{FORMAT}'", m.format)));
    }
    if m.version != VERSION {
        return Err(format!(
            "shard manifest version {} is not supported by this bsar, which reads version {VERSION}",
            m.version
        ));
    }
    let mut paths = Vec::with_capacity(m.shards.len());
    for s in &m.shards {
        check_name(&s.name).map_err(|why| bad(format!("shard '{}': {why}", s.name)))?;
        if s.crc32.len() != 8 || u32::from_str_radix(&s.crc32, 16).is_err() {
            return Err(bad(format!(
                "shard '{}': crc32 is not 8 hex digits",
                s.name
            )));
        }
        paths.push(dir.join(&s.name));
    }
    Ok((m, paths))
}

/// Shard names are plain relative paths inside the manifest's directory: no absolute paths,
/// no `..`, nothing empty.
fn check_name(name: &str) -> Result<(), String> {
    super::paths::check_member_path(name.as_bytes())
}

/// Checks a shard file against its manifest entry: its length and, with `crc`, the CRC32 of
/// all its bytes (a full read; `verify` does it, `list` and `extract` rely on the archive's
/// own CRCs).
pub fn check_shard(path: &Path, s: &Shard, crc: bool) -> CliResult<()> {
    let shown = path.display();
    let damaged = |why: String| CliError(format!("shard {shown} is damaged: {why}"));
    let len = std::fs::metadata(path)
        .map_err(|e| CliError(format!("shard {shown}: {e}")))?
        .len();
    if len != s.bytes {
        return Err(damaged(format!(
            "{len} bytes, the manifest says {}",
            s.bytes
        )));
    }
    if crc {
        let got = crc_of(path).map_err(|e| CliError(format!("shard {shown}: {e}")))?;
        if format!("{got:08x}") != s.crc32 {
            return Err(damaged(format!(
                "CRC32 {got:08x}, the manifest says {}",
                s.crc32
            )));
        }
    }
    Ok(())
}

fn crc_of(path: &Path) -> std::io::Result<u32> {
    let mut f = std::fs::File::open(path)?;
    let mut h = crc32fast::Hasher::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            return Ok(h.finalize());
        }
        h.update(&buf[..n]);
    }
}

/// Writes the manifest at `path` for `shards` (paths of finished archives, in order), each named
/// relative to the manifest's directory, where it must lie. Each shard is opened and checked.
/// Written to a temporary file and renamed, like an archive.
pub fn write(path: &Path, shards: &[PathBuf]) -> CliResult<Manifest> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut entries = Vec::with_capacity(shards.len());
    for shard in shards {
        let shown = shard.display();
        let name = relative_name(&dir, shard).ok_or_else(|| {
            CliError(format!(
                "shard {shown} is not inside the manifest's directory {}",
                dir.display()
            ))
        })?;
        let map = super::open::map_archive(shard)?;
        let archive = crate::archive::Archive::parse(&map)
            .map_err(|e| CliError(format!("shard {shown}: {e}")))?;
        entries.push(Shard {
            name,
            members: archive.members().len() as u64,
            bytes: map.len() as u64,
            crc32: format!("{:08x}", crc32fast::hash(&map)),
        });
    }
    let m = Manifest {
        format: FORMAT.to_string(),
        version: VERSION,
        shards: entries,
    };
    let mut text = serde_json::to_vec_pretty(&m).expect("a manifest serialises");
    text.push(b'\n');
    let err = |e: std::io::Error| CliError(format!("{}: {e}", path.display()));
    let (incomplete, tmp) = super::interrupt::temporary_in(&dir).map_err(err)?;
    std::fs::write(tmp.path(), &text).map_err(err)?;
    incomplete
        .finish(|| tmp.persist(path))
        .map_err(|e| err(e.error))?;
    Ok(m)
}

/// `shard`'s path relative to `dir`, when it lies inside it.
fn relative_name(dir: &Path, shard: &Path) -> Option<String> {
    let dir = std::fs::canonicalize(dir).ok()?;
    let shard = std::fs::canonicalize(shard).ok()?;
    let rel = shard.strip_prefix(&dir).ok()?;
    let name = rel.to_str()?.to_string();
    check_name(&name).ok()?;
    Some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_must_stay_inside() {
        for bad in ["/etc/passwd", "../x.bsar", "a//b", ""] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
        assert!(check_name("shards/train-00001.bsar").is_ok());
    }

    #[test]
    fn manifests_are_told_from_archives() {
        let d = tempfile::tempdir().unwrap();
        let m = d.path().join("m.json");
        std::fs::write(
            &m,
            b"  {\"format\": \"bsar-shards\", \"version\": 1, \"shards\": []}",
        )
        .unwrap();
        assert!(is_manifest(&m));
        let (got, paths) = read(&m).unwrap();
        assert!(got.shards.is_empty() && paths.is_empty());
        let a = d.path().join("a.bsar");
        std::fs::write(&a, crate::archive::format::MAGIC).unwrap();
        assert!(!is_manifest(&a));
        std::fs::write(
            &m,
            b"{\"format\": \"bsar-shards\", \"version\": 9, \"shards\": []}",
        )
        .unwrap();
        assert!(read(&m).unwrap_err().0.contains("version 9"));
        std::fs::write(&m, b"{\"format\": \"bsar-shards\", \"version\": 1, \"shards\": [{\"name\": \"../x\", \"members\": 1, \"bytes\": 1, \"crc32\": \"00000000\"}]}").unwrap();
        assert!(read(&m).is_err());
    }
}
