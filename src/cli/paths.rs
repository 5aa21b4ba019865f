//! Rules on member paths and symlink targets, applied both when creating and when extracting, so
//! that no archive bsar writes or accepts can place anything outside the target directory.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path};

/// The archive name of a command-line path: components joined by '/', with "." components and
/// trailing slashes dropped, and, like tar, a leading '/' removed (the second value says whether
/// one was). ".." is refused: tar would drop it, but then two arguments could name one member.
/// An empty result means "the current directory itself".
pub fn name_for_arg(arg: &Path) -> Result<(Vec<u8>, bool), String> {
    let shown = arg.display();
    let mut name: Vec<u8> = Vec::new();
    let mut rooted = false;
    for c in arg.components() {
        match c {
            Component::Normal(part) => {
                if !name.is_empty() {
                    name.push(b'/');
                }
                name.extend_from_slice(part.as_bytes());
            }
            Component::CurDir => {}
            Component::ParentDir => {
                return Err(format!("'{shown}': paths with '..' cannot be stored"));
            }
            Component::RootDir | Component::Prefix(_) => rooted = true,
        }
    }
    Ok((name, rooted))
}

/// A stored member path is safe if it is relative, with non-empty components none of which is
/// "." or "..", and has no NUL byte.
pub fn check_member_path(path: &[u8]) -> Result<(), String> {
    if path.is_empty() {
        return Err("empty path".into());
    }
    if path[0] == b'/' {
        return Err("absolute path".into());
    }
    if path.contains(&0) {
        return Err("NUL byte in path".into());
    }
    for part in path.split(|&b| b == b'/') {
        match part {
            b"" => return Err("empty path component".into()),
            b"." => return Err("'.' path component".into()),
            b".." => return Err("'..' path component".into()),
            _ => {}
        }
    }
    Ok(())
}

/// A symlink target is safe if it is relative and, read from the link's own directory, never
/// climbs above the archive root. Links to anywhere else could let a later write escape.
pub fn check_link_target(member: &[u8], target: &[u8]) -> Result<(), String> {
    if target.is_empty() || target.contains(&0) {
        return Err("symlink target is empty or has a NUL byte".into());
    }
    if target[0] == b'/' {
        return Err(format!(
            "symlink to absolute path '{}'",
            crate::archive::show_path(target)
        ));
    }
    // Depth of the link's directory below the root.
    let mut depth = member.split(|&b| b == b'/').count() as i64 - 1;
    for part in target.split(|&b| b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => {
                depth -= 1;
                if depth < 0 {
                    return Err(format!(
                        "symlink target '{}' points outside the archive",
                        crate::archive::show_path(target)
                    ));
                }
            }
            _ => depth += 1,
        }
    }
    Ok(())
}

/// The on-disk path of a stored member under `root` (its path must have passed
/// `check_member_path`).
pub fn under(root: &Path, member: &[u8]) -> std::path::PathBuf {
    root.join(Path::new(OsStr::from_bytes(member)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_paths() {
        assert!(check_member_path(b"a/b.png").is_ok());
        for bad in [
            &b"../x"[..],
            b"/etc/passwd",
            b"a/../../x",
            b"a//b",
            b"./a",
            b"a/",
            b"",
            b"a\0b",
        ] {
            assert!(check_member_path(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn link_targets() {
        assert!(check_link_target(b"a/b/link", b"../c").is_ok());
        assert!(check_link_target(b"a/link", b"../c").is_ok());
        assert!(check_link_target(b"link", b"../c").is_err());
        assert!(check_link_target(b"a/link", b"../../c").is_err());
        assert!(check_link_target(b"a/link", b"/etc").is_err());
        assert!(check_link_target(b"a/link", b"x/../../y").is_ok());
        assert!(check_link_target(b"a/link", b"x/../../../y").is_err());
    }

    #[test]
    fn arg_names() {
        assert_eq!(
            name_for_arg(Path::new("./imgs/")).unwrap(),
            (b"imgs".to_vec(), false)
        );
        assert_eq!(name_for_arg(Path::new(".")).unwrap(), (Vec::new(), false));
        assert_eq!(
            name_for_arg(Path::new("/tmp/x")).unwrap(),
            (b"tmp/x".to_vec(), true)
        );
        assert!(name_for_arg(Path::new("/tmp/../etc")).is_err());
        assert!(name_for_arg(Path::new("a/../b")).is_err());
    }
}
