//! `bsar create`: walk the paths, write the archive to a temporary file beside the target, fsync,
//! and rename it into place, so a failure never leaves a partial archive under the target name.

use super::args::{CreateArgs, Device, ImageCodec};
use super::device;
use super::progress::bytes_bar;
use super::summary::{images_phrase, members_phrase, totals};
use super::walk::walk;
use super::{CliError, CliResult};
use crate::archive::{write_archive, ChunkBounds, Geometry, Loaded, Source, WriteOptions};
use crate::bitswap::Scheme;
use crate::codec::bitswap::{BitswapCodec, DEFAULT_PRECISIONS};
use crate::codec::zstd::{ZstdCodec, STREAM_FROM};
use crate::codec::{
    Image, Registry, SeekRead, CODEC_BITSWAP, CODEC_DEEP, CODEC_LEPTON, CODEC_ZSTD,
};
use crate::imageio::Fidelity;
use crate::model::Model;
use std::collections::HashSet;
use std::io::BufWriter;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::PathBuf;
use std::sync::Arc;

struct FileSource<'a> {
    paths: &'a [PathBuf],
    /// Which members were planned as images (decoded to pixels when loaded).
    images: &'a [bool],
    fidelity: Fidelity,
}

impl Source for FileSource<'_> {
    fn load(&self, index: usize) -> Result<Loaded, String> {
        let bytes = std::fs::read(&self.paths[index]).map_err(|e| e.to_string())?;
        Ok(load_member(bytes, self.images[index], self.fidelity))
    }

    fn open(&self, index: usize) -> Result<Box<dyn SeekRead + '_>, String> {
        let file = std::fs::File::open(&self.paths[index]).map_err(|e| e.to_string())?;
        Ok(Box::new(std::io::BufReader::with_capacity(1 << 20, file)))
    }
}

/// A file's content as the writer takes it: with `as_image`, decoded to pixels when it is an
/// image bsar stores as pixels and can restore with `fidelity`. The geometry comes from the same
/// parser either way: the decoded raster's, or the header's for a file stored as bytes.
pub fn load_member(bytes: Vec<u8>, as_image: bool, fidelity: Fidelity) -> Loaded {
    let decoded = if as_image {
        crate::imageio::decode_for(&bytes, fidelity)
    } else {
        None
    };
    let header = match &decoded {
        Some((r, _)) => Some(crate::imageio::Header {
            width: r.width,
            height: r.height,
            channels: r.channels,
            depth: r.depth,
        }),
        None => crate::imageio::probe(&bytes),
    };
    let geometry = header.map_or(Geometry::default(), |h| Geometry {
        width: h.width,
        height: h.height,
        channels: h.channels,
    });
    let pixels = decoded.map(|(r, wrapper)| {
        let image = Image {
            width: r.width,
            height: r.height,
            channels: r.channels,
            depth: r.depth,
            pixels: r.pixels,
        };
        (image, wrapper.to_bytes())
    });
    Loaded {
        bytes,
        geometry,
        pixels,
    }
}

/// Opens what was just written with the reader's own code and checks its structure: header,
/// trailer, index, every chunk's CRC and framing (`Archive::check_chunks`), and every image
/// wrapper. Not a full decode (that is `bsar verify`), but whatever `list`, `extract` and `verify`
/// refuse before decoding is refused here first, so `create` never leaves such an archive.
fn read_back(path: &std::path::Path) -> Result<(), String> {
    let map = super::open::map_archive(path).map_err(|e| e.0)?;
    let archive = crate::archive::Archive::parse(&map).map_err(|e| e.to_string())?;
    let registry = super::reading_registry(&None, 1);
    let mut release = |at, len| super::extract::release(&map, at, len);
    for ci in 0..archive.chunk_count() {
        let holders = &archive.index.chunk_members[ci];
        if holders.len() == 1 && archive.streams(holders[0] as usize, &registry) {
            // A streamed member is decoded as extract would stream it (zstd decodes far faster
            // than it codes), its pages dropped as it goes, so the check never holds it whole.
            archive.stream_member(
                holders[0] as usize,
                &registry,
                &mut std::io::sink(),
                &mut release,
            )
        } else {
            let checked = archive.check_chunk(ci, &registry);
            // What was checked is not read again: its pages need not stay resident.
            let (at, len) = archive.chunk_span(ci);
            release(at, len);
            checked
        }
        .map_err(|e| e.to_string())?;
    }
    for m in archive.members() {
        if m.content.is_pixels() {
            crate::imageio::Wrapper::from_bytes(&m.wrapper)
                .map_err(|e| format!("member '{}': {e}", m.shown()))?;
        }
    }
    Ok(())
}

/// The image models for this run, in order of preference: every shipped model that no other
/// supersedes (the shipped default first for each channel count), among which the codec chooses
/// chunk by chunk on a sample (`bitswap::stream`, "model choice"); or, for the channel count of
/// the model the user chose, that model alone.
fn image_models(choice: Option<&str>) -> CliResult<Vec<Arc<Model>>> {
    let err = |e: crate::model::ModelError| CliError(e.to_string());
    let all = crate::shipped::all().map_err(err)?;
    let current = all.iter().filter(|e| e.superseded_by.is_none());
    let Some(choice) = choice else {
        return Ok(current.map(|e| e.model.clone()).collect());
    };
    let chosen = crate::shipped::find(choice)
        .map_err(err)?
        .ok_or_else(|| CliError(format!("no model named '{choice}' (see `bsar models`)")))?;
    let pinned = chosen.model.config().channels;
    let mut models = vec![chosen.model.clone()];
    models.extend(
        current
            .filter(|e| e.model.config().channels != pinned)
            .map(|e| e.model.clone()),
    );
    Ok(models)
}

pub fn run(a: CreateArgs) -> CliResult<()> {
    let target = &a.archive;
    let shown = target.display();
    if target.symlink_metadata().is_ok() && !a.overwrite {
        return Err(CliError(format!(
            "{shown} already exists (use --overwrite to replace it)"
        )));
    }
    let dir = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let (incomplete, tmp) = super::interrupt::temporary_in(&dir).map_err(|e| {
        CliError(format!(
            "{}: cannot create a temporary file: {e}",
            dir.display()
        ))
    })?;
    // Never store the archive inside itself (when it is written into a directory being archived).
    let mut skip = HashSet::new();
    for f in [Some(tmp.path()), Some(target.as_path())]
        .into_iter()
        .flatten()
    {
        if let Ok(m) = std::fs::metadata(f) {
            skip.insert((m.dev(), m.ino()));
        }
    }
    let base = a.dir.clone().unwrap_or_default();
    if !base.as_os_str().is_empty() && !base.is_dir() {
        return Err(CliError(format!("-C {}: not a directory", base.display())));
    }
    let w = walk(&base, &a.paths, skip).map_err(CliError)?;
    if w.rooted {
        eprintln!("bsar: removing leading '/' from member names");
    }
    let total: u64 = w.specs.iter().map(|s| s.size).sum();
    let images: Vec<bool> = w.specs.iter().map(|s| s.image).collect();
    let threads = a.threads.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    let level = a.level.level();
    let mut registry = Registry::with_defaults(a.zstd_level.unwrap_or(level.zstd_level()));
    // The level's zstd levels, unless one was asked for: then it holds for every size.
    if a.zstd_level.is_none() {
        registry.register(Box::new(
            ZstdCodec::new(level.zstd_level()).with_large_level(level.large_zstd_level()),
        ));
    }
    let scheme = match a.scheme {
        ImageCodec::Bitswap => Some(Scheme::BitSwap),
        ImageCodec::Bbans => Some(Scheme::BbAns),
        ImageCodec::Zstd => None,
    };
    // Without an image model nothing runs on a device; an explicit `--device gpu` still
    // insists on one.
    let engine = if scheme.is_none() && a.device == Device::Auto {
        None
    } else {
        device::choose(a.device)?
    };
    if let Some(scheme) = scheme {
        let models = image_models(a.model.as_deref())?;
        let mut codec = BitswapCodec::new(models, scheme, DEFAULT_PRECISIONS)
            .with_context(level.newest_context())
            .with_threads(threads.max(1));
        if let Some(nets) = &engine {
            codec = codec.with_batching(nets.clone(), device::GPU_MAX_BATCH);
        }
        registry.register(Box::new(codec));
    }
    let opts = WriteOptions {
        codec: CODEC_ZSTD,
        fallback: CODEC_ZSTD,
        bounds: ChunkBounds {
            max_bytes: a.chunk_size,
            max_items: a.chunk_items as usize,
        },
        image_codec: scheme.map(|_| CODEC_BITSWAP),
        deep_codec: scheme.map(|_| CODEC_DEEP),
        image_bounds: ChunkBounds {
            max_bytes: a.chunk_pixels,
            max_items: a.chunk_images as usize,
        },
        jpeg_codec: Some(CODEC_LEPTON),
        threads: threads.max(1),
        group: if engine.is_some() {
            device::GPU_CHUNKS
        } else {
            0
        },
        stream_from: STREAM_FROM,
    };
    let bar = bytes_bar(total, "create");
    let report = {
        let mut out = BufWriter::with_capacity(1 << 20, tmp.as_file());
        let r = write_archive(
            &mut out,
            &w.specs,
            &FileSource {
                paths: &w.sources,
                images: &images,
                fidelity: if a.pixels_only {
                    Fidelity::Pixels
                } else {
                    Fidelity::Bytes
                },
            },
            &registry,
            &opts,
            &|n| bar.inc(n),
        )?;
        out.into_inner()
            .map_err(|e| CliError(format!("writing {shown}: {}", e.error())))?;
        r
    };
    bar.finish_and_clear();
    read_back(tmp.path()).map_err(|e| {
        CliError(format!(
            "internal error: the archive written for {shown} does not read back ({e}); nothing \
             was left under that name. Please report this as a bug"
        ))
    })?;
    // Temporary files are private (0600); an archive gets the usual mode of a new file.
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(0o644))
        .map_err(|e| CliError(format!("writing {shown}: {e}")))?;
    tmp.as_file()
        .sync_all()
        .map_err(|e| CliError(format!("writing {shown}: {e}")))?;
    incomplete
        .finish(|| tmp.persist(target))
        .map_err(|e| CliError(format!("{shown}: {}", e.error)))?;
    // Make the rename itself durable.
    if let Ok(d) = std::fs::File::open(&dir) {
        let _ = d.sync_all();
    }
    if !a.quiet {
        let t = totals(&report.members, &report.chunks, |_| true);
        println!(
            "created {shown}: {}, {} bytes in, {} bytes out ({:.2}%){}",
            members_phrase(&t),
            t.content_bytes,
            report.archive_len,
            100.0 * report.archive_len as f64 / t.content_bytes.max(1) as f64,
            images_phrase(&t)
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::{Kind, MemberSpec};

    struct One(Vec<u8>);

    impl Source for One {
        fn load(&self, _: usize) -> Result<Loaded, String> {
            Ok(load_member(self.0.clone(), false, Fidelity::Bytes))
        }
    }

    /// What `create` runs before the rename accepts what the writer wrote, and refuses it damaged.
    #[test]
    fn read_back_accepts_the_written_and_refuses_damage() {
        let content = b"some file content, some file content".to_vec();
        let spec = MemberSpec {
            path: b"f".to_vec(),
            kind: Kind::File,
            mode: 0o644,
            mtime_sec: 0,
            mtime_nsec: 0,
            size: content.len() as u64,
            link: Vec::new(),
            image: false,
            deep: false,
            jpeg: false,
            alone: false,
        };
        let bounds = ChunkBounds {
            max_bytes: 1 << 20,
            max_items: 16,
        };
        let opts = WriteOptions {
            codec: CODEC_ZSTD,
            fallback: CODEC_ZSTD,
            bounds,
            image_codec: None,
            deep_codec: None,
            image_bounds: bounds,
            jpeg_codec: None,
            threads: 1,
            group: 0,
            stream_from: STREAM_FROM,
        };
        let mut archive = Vec::new();
        let registry = Registry::with_defaults(3);
        write_archive(
            &mut archive,
            &[spec],
            &One(content),
            &registry,
            &opts,
            &|_| {},
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.bsar");
        std::fs::write(&path, &archive).unwrap();
        read_back(&path).unwrap();
        // A flipped byte in the chunk, in the index, and a truncation are all refused.
        for at in [20, archive.len() - 40] {
            let mut bad = archive.clone();
            bad[at] ^= 1;
            std::fs::write(&path, &bad).unwrap();
            assert!(read_back(&path).is_err(), "byte {at}");
        }
        std::fs::write(&path, &archive[..archive.len() - 1]).unwrap();
        assert!(read_back(&path).is_err());
    }
}
