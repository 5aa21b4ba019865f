//! Maps codec ids (as written in the chunk table) to codec implementations.

use super::{Codec, CODEC_BITSWAP, CODEC_DEEP, CODEC_LEPTON, CODEC_STORED, CODEC_ZSTD};

/// The set of codecs a reader or writer knows. Lookups are by id; the container asks the registry
/// and never names a codec type itself, so new codecs plug in here only.
pub struct Registry {
    codecs: Vec<Box<dyn Codec>>,
}

impl Registry {
    /// An empty registry.
    pub fn empty() -> Self {
        Registry { codecs: Vec::new() }
    }

    /// Every codec this build ships, with zstd at `zstd_level` for writing (reading ignores it).
    pub fn with_defaults(zstd_level: i32) -> Self {
        let mut r = Registry::empty();
        r.register(Box::new(super::zstd::ZstdCodec::new(zstd_level)));
        r.register(Box::new(super::lepton::LeptonCodec::new(zstd_level)));
        r.register(Box::new(super::deep::DeepCodec));
        r
    }

    /// Adds a codec, replacing any earlier one with the same id.
    pub fn register(&mut self, codec: Box<dyn Codec>) {
        self.codecs.retain(|c| c.id() != codec.id());
        self.codecs.push(codec);
    }

    pub fn get(&self, id: u8) -> Option<&dyn Codec> {
        self.codecs
            .iter()
            .find(|c| c.id() == id)
            .map(|c| c.as_ref())
    }

    /// A name for an id even when this build lacks the codec, for error messages and listings.
    pub fn describe(&self, id: u8) -> String {
        match self.get(id) {
            Some(c) => c.name().to_string(),
            None => match id {
                CODEC_STORED => "stored".to_string(),
                CODEC_ZSTD => "zstd".to_string(),
                CODEC_BITSWAP => "bitswap".to_string(),
                CODEC_LEPTON => "lepton".to_string(),
                CODEC_DEEP => "deep".to_string(),
                other => format!("codec#{other}"),
            },
        }
    }
}

impl Default for Registry {
    fn default() -> Self {
        Registry::with_defaults(super::zstd::DEFAULT_LEVEL)
    }
}
