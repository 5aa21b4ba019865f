//! `bsar._bsar`: the Rust side of the Python package. A thin layer over the same library as the
//! command line: archives are opened, checked and decoded by `bsar::archive`, image files rebuilt
//! by `bsar::imageio`, archives and manifests written by `bsar::cli`. Nothing here reimplements
//! them. Decoding runs with the GIL released, on several threads when asked. Python-facing
//! conveniences (names as str, numpy arrays, iteration) live in `bsar/__init__.py`.

use bsar::archive::{Archive, Kind, MemberEntry, NO_CHUNK};
use bsar::codec::Registry;
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use std::sync::OnceLock;

create_exception!(
    _bsar,
    BsarError,
    PyException,
    "A bsar failure, with bsar's one-line message."
);

fn err(msg: impl std::fmt::Display) -> PyErr {
    BsarError::new_err(msg.to_string())
}

/// The readers' codecs, made once per process (the models load on the first Bit-Swap chunk).
fn registry() -> &'static Registry {
    static R: OnceLock<Registry> = OnceLock::new();
    R.get_or_init(bsar::cli::reader_registry)
}

/// An open archive, memory-mapped.
#[pyclass(module = "bsar._bsar", frozen)]
struct RawArchive {
    // Declared before the map, so it is dropped first: it borrows the map's bytes.
    archive: Archive<'static>,
    _map: memmap2::Mmap,
    path: String,
}

/// An image's shape as numpy has it, (height, width, channels), and its sample depth (8 or 16:
/// two bytes a sample, big-endian).
type Shape = (u32, u32, u8, u8);
/// One decoded item: (member index, bytes, shape for images).
type Item = (usize, Vec<u8>, Option<Shape>);

impl RawArchive {
    fn member(&self, index: usize) -> PyResult<&MemberEntry> {
        self.archive
            .members()
            .get(index)
            .ok_or_else(|| err(format!("{}: no member {index}", self.path)))
    }

    /// Restored content of member `mi` (file bytes, or pixels for content kind 1).
    fn content(&self, mi: usize) -> PyResult<Vec<u8>> {
        self.archive
            .read_member(mi, registry())
            .map_err(|e| err(format!("{}: {e}", self.path)))
    }

    /// The member as extraction would write it.
    fn file_bytes(&self, m: &MemberEntry, content: Vec<u8>) -> PyResult<Vec<u8>> {
        if !m.content.is_pixels() {
            return Ok(content);
        }
        bsar::imageio::rebuild(&m.wrapper, m.image_header(), content)
            .map_err(|e| err(format!("{}: member '{}': {e}", self.path, m.shown())))
    }

    /// An image member's pixels and shape: decoded pixels for content kind 1, else the file
    /// decoded (a PNG or PNM stored as bytes).
    fn pixels(&self, m: &MemberEntry, content: Vec<u8>) -> Result<(Vec<u8>, Shape), String> {
        if m.content.is_pixels() {
            let g = m.geometry;
            let pixels = file_samples(m, content).map_err(|e| format!("{}: {e}", self.path))?;
            return Ok((pixels, (g.height, g.width, g.channels, m.content.depth())));
        }
        match bsar::imageio::decode(&content) {
            Some((mut r, w)) => {
                bsar::imageio::file_samples(&w, &mut r.pixels);
                Ok((r.pixels, (r.height, r.width, r.channels, r.depth)))
            }
            None => Err(format!(
                "{}: member '{}' is not a PNG or PNM image bsar decodes",
                self.path,
                m.shown()
            )),
        }
    }

    /// Decodes chunk `ci` whole: its members' bytes, and pixels for its image members.
    fn decode_chunk(&self, ci: usize) -> Result<Vec<Item>, String> {
        let holders = &self.archive.index.chunk_members[ci];
        let items = self
            .archive
            .read_chunk(ci, holders.len() - 1, registry())
            .map_err(|e| format!("{}: {e}", self.path))?;
        let mut out = Vec::with_capacity(items.len());
        for (&mi, content) in holders.iter().zip(items) {
            let m = &self.archive.members()[mi as usize];
            let g = m.geometry;
            if g.channels > 0 && m.content.is_pixels() {
                let pixels = file_samples(m, content).map_err(|e| format!("{}: {e}", self.path))?;
                let shape = (g.height, g.width, g.channels, m.content.depth());
                out.push((mi as usize, pixels, Some(shape)));
            } else if let Some((mut r, w)) = (g.channels > 0)
                .then(|| bsar::imageio::decode(&content))
                .flatten()
            {
                bsar::imageio::file_samples(&w, &mut r.pixels);
                let shape = (r.height, r.width, r.channels, r.depth);
                out.push((mi as usize, r.pixels, Some(shape)));
            } else {
                out.push((mi as usize, content, None));
            }
        }
        Ok(out)
    }
}

/// An image member's decoded pixels as its file holds them (a palette PNG's indices).
fn file_samples(m: &MemberEntry, mut pixels: Vec<u8>) -> Result<Vec<u8>, String> {
    let wrapper = bsar::imageio::Wrapper::from_bytes(&m.wrapper)
        .map_err(|e| format!("member '{}': {e}", m.shown()))?;
    bsar::imageio::file_samples(&wrapper, &mut pixels);
    Ok(pixels)
}

#[pymethods]
impl RawArchive {
    #[new]
    fn new(path: std::path::PathBuf) -> PyResult<Self> {
        let shown = path.display().to_string();
        let file = std::fs::File::open(&path).map_err(|e| err(format!("{shown}: {e}")))?;
        // SAFETY: read-only map; like the CLI, bsar accepts the risk of another process
        // truncating an archive in use.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| err(format!("{shown}: {e}")))?;
        // SAFETY: the slice borrows the map, which this object owns and drops after `archive`;
        // the map never moves its bytes.
        let data: &'static [u8] = unsafe { std::slice::from_raw_parts(map.as_ptr(), map.len()) };
        let archive = Archive::parse(data).map_err(|e| err(format!("{shown}: {e}")))?;
        Ok(RawArchive {
            archive,
            _map: map,
            path: shown,
        })
    }

    fn __len__(&self) -> usize {
        self.archive.members().len()
    }

    #[getter]
    fn path(&self) -> String {
        self.path.clone()
    }

    /// Every member: (path bytes, kind, file size, codec, width, height, channels, chunk,
    /// position, content), kind "file", "dir" or "symlink", content "bytes" or "pixels".
    #[allow(clippy::type_complexity)]
    fn members<'py>(
        &self,
        py: Python<'py>,
    ) -> Vec<(
        Bound<'py, PyBytes>,
        &'static str,
        u64,
        String,
        u32,
        u32,
        u8,
        i64,
        u32,
        &'static str,
    )> {
        let chunks = &self.archive.index.chunks;
        self.archive
            .members()
            .iter()
            .map(|m| {
                let kind = match m.kind {
                    Kind::File => "file",
                    Kind::Dir => "dir",
                    Kind::Symlink => "symlink",
                };
                let (codec, chunk) = if m.chunk == NO_CHUNK {
                    (String::new(), -1)
                } else {
                    let id = chunks[m.chunk as usize].codec;
                    (registry().describe(id), m.chunk as i64)
                };
                let content = if m.content.is_pixels() {
                    "pixels"
                } else {
                    "bytes"
                };
                let size = bsar::cli::file_size(m).unwrap_or(m.size);
                let g = m.geometry;
                (
                    PyBytes::new(py, &m.path),
                    kind,
                    size,
                    codec,
                    g.width,
                    g.height,
                    g.channels,
                    chunk,
                    m.position,
                    content,
                )
            })
            .collect()
    }

    fn chunk_count(&self) -> usize {
        self.archive.index.chunks.len()
    }

    /// The members (indices) of chunk `ci`, in item order.
    fn chunk_members(&self, ci: usize) -> PyResult<Vec<u32>> {
        self.archive
            .index
            .chunk_members
            .get(ci)
            .cloned()
            .ok_or_else(|| err(format!("{}: no chunk {ci}", self.path)))
    }

    /// Member `index` as extraction would write it: a file's bytes (an image stored as pixels
    /// rebuilt into its file), a symlink's target, nothing for a directory.
    fn read<'py>(&self, py: Python<'py>, index: usize) -> PyResult<Bound<'py, PyBytes>> {
        let m = self.member(index)?;
        let bytes = py.detach(|| {
            let restored = self
                .archive
                .read_member_restored(index, registry())
                .map_err(|e| err(format!("{}: {e}", self.path)))?;
            // A member checked through its file comes with the file the check rebuilt.
            match restored.file {
                Some(file) => Ok(file),
                None => self.file_bytes(m, restored.content),
            }
        })?;
        Ok(PyBytes::new(py, &bytes))
    }

    /// Member `index`'s pixels and shape (height, width, channels).
    #[allow(clippy::type_complexity)]
    fn image<'py>(&self, py: Python<'py>, index: usize) -> PyResult<(Bound<'py, PyBytes>, Shape)> {
        let m = self.member(index)?;
        if m.kind != Kind::File || m.geometry.channels == 0 {
            return Err(err(format!(
                "{}: member '{}' is not an image",
                self.path,
                m.shown()
            )));
        }
        let (px, shape) = py.detach(|| {
            let content = self.content(index)?;
            self.pixels(m, content).map_err(err)
        })?;
        Ok((PyBytes::new(py, &px), shape))
    }

    /// Decodes the chunks `chunks` (on up to `threads` threads, without the GIL) and returns, for
    /// each, its items: (member index, bytes, shape or None); images come as pixels. A damaged
    /// chunk raises, naming it.
    #[allow(clippy::type_complexity)]
    fn decode_chunks<'py>(
        &self,
        py: Python<'py>,
        chunks: Vec<usize>,
        threads: usize,
    ) -> PyResult<Vec<Vec<(usize, Bound<'py, PyBytes>, Option<Shape>)>>> {
        let n = self.archive.index.chunks.len();
        if let Some(&bad) = chunks.iter().find(|&&c| c >= n) {
            return Err(err(format!("{}: no chunk {bad} ({n} chunks)", self.path)));
        }
        let decoded: Vec<Result<Vec<Item>, String>> = py.detach(|| {
            let next = std::sync::atomic::AtomicUsize::new(0);
            let slots: Vec<std::sync::Mutex<Option<Result<Vec<Item>, String>>>> =
                chunks.iter().map(|_| std::sync::Mutex::new(None)).collect();
            std::thread::scope(|s| {
                for _ in 0..threads.clamp(1, chunks.len().max(1)) {
                    s.spawn(|| loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if i >= chunks.len() {
                            break;
                        }
                        let r = self.decode_chunk(chunks[i]);
                        *slots[i].lock().unwrap_or_else(|p| p.into_inner()) = Some(r);
                    });
                }
            });
            slots
                .into_iter()
                .map(|m| {
                    m.into_inner()
                        .unwrap_or_else(|p| p.into_inner())
                        .expect("every chunk decoded")
                })
                .collect()
        });
        decoded
            .into_iter()
            .map(|r| {
                let items = r.map_err(err)?;
                Ok(items
                    .into_iter()
                    .map(|(mi, b, shape)| (mi, PyBytes::new(py, &b), shape))
                    .collect())
            })
            .collect()
    }
}

/// Runs `bsar ARGS` (the command line's own parsing and code) in this process, with the GIL
/// released. Errors raise `BsarError` with bsar's message.
#[pyfunction]
fn run(py: Python<'_>, args: Vec<String>) -> PyResult<()> {
    use clap::Parser;
    let argv = std::iter::once("bsar".to_string()).chain(args);
    let cli = bsar::cli::Cli::try_parse_from(argv).map_err(|e| {
        let text = e.render().to_string();
        err(text
            .lines()
            .next()
            .unwrap_or("invalid arguments")
            .trim_start_matches("error: "))
    })?;
    py.detach(|| bsar::cli::run(cli)).map_err(err)
}

/// Writes a shard manifest at `path` for the finished archives `shards` (spec/shards.md).
#[pyfunction]
fn write_manifest(
    py: Python<'_>,
    path: std::path::PathBuf,
    shards: Vec<std::path::PathBuf>,
) -> PyResult<()> {
    py.detach(|| bsar::cli::manifest::write(&path, &shards))
        .map(|_| ())
        .map_err(err)
}

/// Reads a shard manifest: for each shard (path, members, bytes, crc32). With `check`, each
/// shard's size is checked, and with `crc` its CRC32 too (a full read).
#[pyfunction]
#[pyo3(signature = (path, check = true, crc = false))]
fn read_manifest(
    py: Python<'_>,
    path: std::path::PathBuf,
    check: bool,
    crc: bool,
) -> PyResult<Vec<(String, u64, u64, String)>> {
    py.detach(|| {
        let (m, paths) = bsar::cli::manifest::read(&path)?;
        let mut out = Vec::with_capacity(paths.len());
        for (s, p) in m.shards.iter().zip(paths) {
            if check {
                bsar::cli::manifest::check_shard(&p, s, crc)?;
            }
            out.push((p.display().to_string(), s.members, s.bytes, s.crc32.clone()));
        }
        Ok(out)
    })
    .map_err(|e: bsar::cli::CliError| err(e))
}

/// Whether the file at `path` is a shard manifest (rather than an archive).
#[pyfunction]
fn is_manifest(path: std::path::PathBuf) -> bool {
    bsar::cli::manifest::is_manifest(&path)
}

#[pymodule]
fn _bsar(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("BsarError", m.py().get_type::<BsarError>())?;
    m.add_class::<RawArchive>()?;
    m.add_function(wrap_pyfunction!(run, m)?)?;
    m.add_function(wrap_pyfunction!(write_manifest, m)?)?;
    m.add_function(wrap_pyfunction!(read_manifest, m)?)?;
    m.add_function(wrap_pyfunction!(is_manifest, m)?)?;
    Ok(())
}
