//! JPEG files, as far as bsar looks into them: recognising one by its first bytes. bsar stores
//! JPEG members as bytes, recompressed by the lepton codec (which parses them and has the last
//! word); their geometry is not recorded, so to listings and readers they are files, not pixels.

/// Whether `head`, a file's first bytes, starts like a JPEG file (SOI, then a marker).
pub(super) fn looks_jpeg(head: &[u8]) -> bool {
    head.starts_with(&[0xFF, 0xD8, 0xFF])
}
