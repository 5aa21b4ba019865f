//! Levels: one choice that sets how hard every coder works, as zstd's and cjxl's levels do.
//!
//! A level is the writer's choice only. Every chunk names the coding it got (its codec and, for
//! Bit-Swap, its chunk version), so reading needs no level: an archive made at any level
//! extracts with the same command.

use crate::context;

/// How much `create` spends for a smaller archive, and what extracting it costs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Level {
    /// Images: the context code without its least-squares stages (chunk version 3 throughout),
    /// about three times faster to decode than the default for a few percent more bytes. Other
    /// files: zstd level 3.
    Fast,
    /// Images: the encoder picks, chunk by chunk, the context code that compresses best
    /// (version 4, with least-squares stages, unless bits-back pays). Other files: zstd level 19.
    #[default]
    Default,
}

impl Level {
    pub const ALL: [Level; 2] = [Level::Fast, Level::Default];

    pub fn name(self) -> &'static str {
        match self {
            Level::Fast => "fast",
            Level::Default => "default",
        }
    }

    pub fn parse(name: &str) -> Option<Level> {
        Level::ALL.into_iter().find(|l| l.name() == name)
    }

    /// The zstd level for members that are not images (nor JPEGs).
    pub fn zstd_level(self) -> i32 {
        match self {
            Level::Fast => 3,
            Level::Default => super::zstd::DEFAULT_LEVEL,
        }
    }

    /// The zstd level for those members when they are large (`zstd::STREAM_FROM` bytes or
    /// more): level 19 runs at 0.7 to 3 MB/s, so a gigabyte would take up to half an hour;
    /// level 9 runs at about 20 MB/s on text, for some 8% more bytes.
    pub fn large_zstd_level(self) -> i32 {
        match self {
            Level::Fast => 3,
            Level::Default => 9,
        }
    }

    /// The newest context code a Bit-Swap chunk may use (`BitswapCodec::with_context`).
    pub fn newest_context(self) -> context::Version {
        match self {
            Level::Fast => context::Version::V3,
            Level::Default => context::Version::V4,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_default_is_default() {
        for l in Level::ALL {
            assert_eq!(Level::parse(l.name()), Some(l));
        }
        assert_eq!(Level::parse("max"), None);
        assert_eq!(Level::default(), Level::Default);
        assert!(Level::Fast.zstd_level() < Level::Default.zstd_level());
        for l in Level::ALL {
            assert!(l.large_zstd_level() <= l.zstd_level());
        }
    }
}
