//! The codec seam: a new codec plugs in through the registry alone, with no change to the
//! container, and a codec that refuses an item makes the writer fall back to zstd.

use bsar::archive::{
    write_archive, Archive, ChunkBounds, Kind, Loaded, MemberSpec, Source, WriteOptions,
};
use bsar::codec::{Codec, CodecError, ItemShape, Payload, Registry, CODEC_ZSTD};

/// A toy codec (id 200): items stored as a u32 length then the bytes inverted. Refuses items
/// over 100 bytes, like Bit-Swap refusing what it has no model for.
struct Invert;

impl Codec for Invert {
    fn id(&self) -> u8 {
        200
    }
    fn name(&self) -> &str {
        "invert"
    }
    fn encode_chunk(&self, items: &[&Payload]) -> Result<Vec<u8>, CodecError> {
        let mut out = Vec::new();
        for item in items {
            let Payload::Bytes(b) = item else {
                return Err(CodecError::Unsupported("image".into()));
            };
            if b.len() > 100 {
                return Err(CodecError::Unsupported("too long".into()));
            }
            out.extend((b.len() as u32).to_le_bytes());
            out.extend(b.iter().map(|x| !x));
        }
        Ok(out)
    }
    /// The outputs, each at most its own length (a Vec per item).
    fn decode_budget(&self, _data_len: u64, shapes: &[ItemShape]) -> u64 {
        shapes.iter().map(|s| s.decoded_len() + 64).sum()
    }
    fn decode_chunk(
        &self,
        data: &[u8],
        shapes: &[ItemShape],
        upto: usize,
    ) -> Result<Vec<Payload>, CodecError> {
        let mut pos = 0;
        let mut out = Vec::new();
        for shape in &shapes[..=upto] {
            let len = u32::from_le_bytes(
                data.get(pos..pos + 4)
                    .ok_or_else(|| CodecError::Corrupt("short".into()))?
                    .try_into()
                    .unwrap(),
            ) as usize;
            if len as u64 != shape.decoded_len() {
                return Err(CodecError::Corrupt("length".into()));
            }
            let b = data
                .get(pos + 4..pos + 4 + len)
                .ok_or_else(|| CodecError::Corrupt("short".into()))?;
            out.push(Payload::Bytes(b.iter().map(|x| !x).collect()));
            pos += 4 + len;
        }
        Ok(out)
    }
    fn check_chunk(&self, data: &[u8], shapes: &[ItemShape]) -> Result<(), CodecError> {
        let want: u64 = shapes.iter().map(|s| 4 + s.decoded_len()).sum();
        if want != data.len() as u64 {
            return Err(CodecError::Corrupt("length".into()));
        }
        Ok(())
    }
}

struct Mem(Vec<Vec<u8>>);

impl Source for Mem {
    fn load(&self, i: usize) -> Result<Loaded, String> {
        Ok(Loaded {
            bytes: self.0[i].clone(),
            geometry: Default::default(),
            pixels: None,
        })
    }
}

fn spec(path: &str, size: usize) -> MemberSpec {
    MemberSpec {
        path: path.into(),
        kind: Kind::File,
        mode: 0o644,
        mtime_sec: 0,
        mtime_nsec: 0,
        size: size as u64,
        link: vec![],
        image: false,
        deep: false,
        jpeg: false,
        alone: false,
    }
}

#[test]
fn a_new_codec_plugs_in_and_falls_back_to_zstd() {
    let contents = vec![b"small one".to_vec(), vec![7u8; 500], b"small two".to_vec()];
    let specs: Vec<MemberSpec> = contents
        .iter()
        .enumerate()
        .map(|(i, c)| spec(&format!("m{i}"), c.len()))
        .collect();
    let mut registry = Registry::with_defaults(3);
    registry.register(Box::new(Invert));
    let opts = WriteOptions {
        codec: 200,
        fallback: CODEC_ZSTD,
        bounds: ChunkBounds {
            max_bytes: 100,
            max_items: 10,
        },
        image_codec: None,
        deep_codec: None,
        image_bounds: ChunkBounds {
            max_bytes: 100,
            max_items: 10,
        },
        jpeg_codec: None,
        threads: 2,
        group: 0,
        stream_from: 0,
    };
    let mut bytes = Vec::new();
    write_archive(
        &mut bytes,
        &specs,
        &Mem(contents.clone()),
        &registry,
        &opts,
        &|_| {},
    )
    .unwrap();
    let archive = Archive::parse(&bytes).unwrap();
    let codecs: Vec<u8> = archive.index.chunks.iter().map(|c| c.codec).collect();
    assert_eq!(
        codecs,
        vec![200, CODEC_ZSTD, 200],
        "the 500-byte member fell back to zstd"
    );
    for (i, want) in contents.iter().enumerate() {
        assert_eq!(&archive.read_member(i, &registry).unwrap(), want);
    }
    // A reader without the new codec names it and the chunk instead of guessing.
    let err = archive
        .read_member(0, &Registry::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("codec 200") && err.contains("chunk 0"),
        "{err}"
    );
    assert_eq!(
        archive.read_member(1, &Registry::default()).unwrap(),
        contents[1]
    );
}
