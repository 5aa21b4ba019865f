//! The container: header, chunks, index and trailer of a .bsar file, with their CRCs
//! (`spec/format.md`). It moves bytes between members and codecs and never touches the file system;
//! the command line (`crate::cli`) does that.

mod bytes;
mod columns;
mod error;
pub mod format;
pub mod index;
pub mod limits;
pub mod packed;
pub(crate) mod par;
pub mod plan;
mod reader;
mod writer;

pub use error::{show_path, Error, Result};
pub use index::{ChunkEntry, Content, Geometry, Index, Kind, MemberEntry, NO_CHUNK};
pub use plan::ChunkBounds;
pub use reader::{check_content, Archive, Item, Restored};
pub use writer::{write_archive, Loaded, MemberSpec, Source, WriteOptions, WriteReport};
