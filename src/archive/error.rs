//! Errors of the container layer. Each says which part of the archive is at fault (the header,
//! the trailer, the index, chunk N, member 'path') in one line.

use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// The bytes are not a bsar archive at all, or are too short to be one.
    NotAnArchive(String),
    /// A valid archive of a version or with features this reader does not understand.
    Unsupported(String),
    /// Damage: a CRC mismatch or a field that breaks the format's rules.
    Corrupt(String),
    /// Input or output failed (reading members at create, writing the archive).
    Io(String),
    /// The caller asked for something the archive cannot do (e.g. a path too long to store).
    Invalid(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NotAnArchive(m)
            | Error::Unsupported(m)
            | Error::Corrupt(m)
            | Error::Io(m)
            | Error::Invalid(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;

/// Shows a member path for messages: lossy UTF-8 with control characters escaped, so a hostile
/// name cannot garble a terminal.
pub fn show_path(path: &[u8]) -> String {
    let mut out = String::new();
    for c in String::from_utf8_lossy(path).chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}
