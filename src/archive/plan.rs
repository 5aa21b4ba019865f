//! Grouping members into chunks: consecutive files (in archive order) share a chunk until it would
//! pass a size or item-count bound, so small files share one coded stream and large files get
//! their own. The plan depends only on the member list and the bounds, never on thread count.

/// Bounds on one chunk.
#[derive(Clone, Copy, Debug)]
pub struct ChunkBounds {
    /// Input bytes per chunk; a file at least this large is alone in its chunk.
    pub max_bytes: u64,
    /// Items per chunk.
    pub max_items: usize,
}

/// Returns, for each chunk, the indices (into `sizes`) of its members. `sizes[i]` is `None` for
/// members with no chunk content (directories, symlinks, empty files).
pub fn plan_chunks(sizes: &[Option<u64>], bounds: ChunkBounds) -> Vec<Vec<usize>> {
    let mut chunks = Vec::new();
    let mut current: Vec<usize> = Vec::new();
    let mut current_bytes = 0u64;
    for (i, size) in sizes.iter().enumerate() {
        let Some(size) = *size else { continue };
        let full = !current.is_empty()
            && (current_bytes.saturating_add(size) > bounds.max_bytes
                || current.len() >= bounds.max_items.max(1));
        if full {
            chunks.push(std::mem::take(&mut current));
            current_bytes = 0;
        }
        current.push(i);
        current_bytes = current_bytes.saturating_add(size);
    }
    if !current.is_empty() {
        chunks.push(current);
    }
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_files_share_large_files_alone() {
        let b = ChunkBounds {
            max_bytes: 100,
            max_items: 3,
        };
        let sizes = [
            Some(10),
            None,
            Some(20),
            Some(500),
            Some(30),
            Some(1),
            Some(1),
            Some(1),
        ];
        assert_eq!(
            plan_chunks(&sizes, b),
            vec![vec![0, 2], vec![3], vec![4, 5, 6], vec![7]]
        );
    }
}
