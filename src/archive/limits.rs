//! Every limit a reader of `spec/format.md` enforces, defined once. The reader refuses an archive
//! that breaks one; the writer applies the same checks before it writes (a member that would
//! break one is stored as plain bytes, or `create` fails with one line), so bsar never writes an
//! archive that it would refuse to open (spec/format.md 4.6).

/// Paths and symlink targets are at most this long (bytes), like Linux's PATH_MAX.
pub const MAX_PATH: usize = 4096;

/// Largest image wrapper (the bytes of an image file other than its pixels) a member may carry.
pub const MAX_WRAPPER: usize = 1 << 24;

/// A stored index may unpack to at most `MAX_INDEX_RATIO` times its stored length plus
/// `INDEX_SLACK`, and never more than `MAX_RAW_INDEX`: a bound on what a hostile archive can make
/// a reader allocate. Real indexes compress 5-30 fold.
pub const MAX_INDEX_RATIO: u64 = 4096;
pub const INDEX_SLACK: u64 = 1 << 20;
pub const MAX_RAW_INDEX: u64 = 1 << 32;

/// The index's zstd frame may not need a window larger than `2^INDEX_WINDOW_LOG` bytes.
pub const INDEX_WINDOW_LOG: u32 = 27;

/// Chunk numbers are u32 and 0xFFFFFFFF means "no chunk", so an archive holds fewer chunks than
/// that; member and item counts are u32 fields.
pub const MAX_CHUNKS: u64 = u32::MAX as u64;
pub const MAX_MEMBERS: u64 = u32::MAX as u64;
pub const MAX_CHUNK_ITEMS: u64 = u32::MAX as u64;

/// The largest unpacked index a stored index of `stored_len` bytes may claim.
pub fn max_raw_index(stored_len: u64) -> u64 {
    stored_len
        .saturating_mul(MAX_INDEX_RATIO)
        .saturating_add(INDEX_SLACK)
        .min(MAX_RAW_INDEX)
}

/// The most memory parsing an unpacked index of `raw_len` bytes may hold allocated at once
/// (spec/format.md 6.3), beyond the bytes themselves: four times the bytes (the tables and
/// wrappers copied out, the chunks' item lists), and per member (the index holds at most one per
/// `MIN_MEMBER_BYTES` of its packed layout) its entry, a path and a link target of `MAX_PATH`
/// each (front coding lets a few bytes stand for a long path), and 512 bytes of bookkeeping.
pub fn index_budget(raw_len: u64) -> u64 {
    let members = raw_len / super::columns::MIN_MEMBER_BYTES as u64 + 1;
    raw_len
        .saturating_mul(4)
        .saturating_add(members.saturating_mul(2 * MAX_PATH as u64 + 512))
        .saturating_add(1 << 20)
}
