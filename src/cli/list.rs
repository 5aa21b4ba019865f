//! `bsar list`: member paths, or with -l a table with type, mode, sizes, codec, ratio and
//! image geometry. Listing reads only the index; no chunk is decoded.

use super::args::ListArgs;
use super::open::map_archive;
use super::summary::{file_size, stored_shares};
use super::{CliError, CliResult};
use crate::archive::{Archive, Content, Kind, NO_CHUNK};
use crate::imageio::Wrapper;
use std::io::{BufWriter, Write};

pub fn run(a: ListArgs) -> CliResult<()> {
    run_one(&a, true)
}

/// Lists one archive; `header` prints the -l table's header line (once for a manifest's shards).
pub(super) fn run_one(a: &ListArgs, header: bool) -> CliResult<()> {
    let map = map_archive(&a.archive)?;
    let shown = a.archive.display();
    let archive = Archive::parse(&map).map_err(|e| CliError(format!("{shown}: {e}")))?;
    let registry = super::reading_registry(&None, 1);
    let members = archive.members();
    let shares = stored_shares(members, &archive.index.chunks);
    let mut out = BufWriter::new(std::io::stdout().lock());
    let res: std::io::Result<()> = (|| {
        if a.l && header {
            writeln!(
                out,
                "type mode       size     stored  ratio codec    chunk  image        path"
            )?;
        }
        let mut pixel_only = false;
        let mut rebuilt = false;
        for (i, m) in members.iter().enumerate() {
            if !a.l {
                writeln!(out, "{}", m.shown())?;
                continue;
            }
            let kind = match m.kind {
                Kind::File => '-',
                Kind::Dir => 'd',
                Kind::Symlink => 'l',
            };
            let (codec, chunk, stored, ratio) = if m.chunk == NO_CHUNK {
                (
                    "-".to_string(),
                    "-".to_string(),
                    "-".to_string(),
                    "-".to_string(),
                )
            } else {
                let c = &archive.index.chunks[m.chunk as usize];
                let shared = archive.index.chunk_members[m.chunk as usize].len() > 1;
                // '~' marks an estimate: the member shares its coded stream with others.
                let stored = format!("{}{:.0}", if shared { "~" } else { "" }, shares[i]);
                let on_disk = file_size(m).unwrap_or(m.size);
                let ratio = format!("{:.2}", on_disk as f64 / shares[i].max(1e-9));
                // '*': stored as pixels and restored pixel-identical, not byte-identical.
                // '+': stored as pixels and restored byte-identical by rebuilding the file.
                let mark = match Wrapper::from_bytes(&m.wrapper) {
                    _ if m.content == Content::Bytes => "",
                    Ok(Wrapper::PngExact(_)) => "+",
                    Ok(w) if w.byte_exact() => "",
                    _ => "*",
                };
                pixel_only |= mark == "*";
                rebuilt |= mark == "+";
                (
                    format!("{}{mark}", registry.describe(c.codec)),
                    m.chunk.to_string(),
                    stored,
                    ratio,
                )
            };
            let g = m.geometry;
            let image = if g.channels > 0 {
                format!("{}x{}x{}", g.width, g.height, g.channels)
            } else {
                "-".to_string()
            };
            let link = if m.kind == Kind::Symlink {
                format!(" -> {}", crate::archive::show_path(&m.link))
            } else {
                String::new()
            };
            // The file's size on disk when archived; '?' where the archive does not say (PNG
            // members of format 1.0 archives), with their pixels' length.
            let size = match file_size(m) {
                Some(n) => n.to_string(),
                None => format!("?{}", m.size),
            };
            writeln!(
                out,
                "{kind}    {:04o} {:>10} {:>10} {:>6} {:<8} {:>5}  {:<12} {}{link}",
                m.mode,
                size,
                stored,
                ratio,
                codec,
                chunk,
                image,
                m.shown()
            )?;
        }
        if rebuilt {
            writeln!(out, "+ stored as pixels: the original file is rebuilt byte for byte (PNG deflate reconstruction) and checked against its CRC-32")?;
        }
        if pixel_only {
            writeln!(out, "* stored as pixels: restored pixel-identical with its metadata chunks, not byte-identical; size is the original file's")?;
        }
        out.flush()
    })();
    match res {
        // A closed pipe (`bsar list a.bsar | head`) is not an error worth a message.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(CliError(format!("writing the listing: {e}"))),
        Ok(()) => Ok(()),
    }
}
