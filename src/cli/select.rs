//! Choosing members by the names given on the command line, like tar: a name selects the member
//! with that path and, if it is a directory, everything under it.

use super::paths::name_for_arg;
use super::{CliError, CliResult};
use crate::archive::MemberEntry;
use std::path::Path;

/// Whether `name` (as given on the command line) selects any of `members`.
pub fn selects_any(members: &[MemberEntry], name: &str) -> CliResult<bool> {
    let (w, _) = name_for_arg(Path::new(name)).map_err(CliError)?;
    Ok(members.iter().any(|m| {
        w.is_empty()
            || m.path == w
            || (m.path.len() > w.len() && m.path.starts_with(&w) && m.path[w.len()] == b'/')
    }))
}

/// Indices of the selected members, in archive order. No names selects everything.
pub fn select(members: &[MemberEntry], names: &[String]) -> CliResult<Vec<usize>> {
    if names.is_empty() {
        return Ok((0..members.len()).collect());
    }
    let wanted: Vec<Vec<u8>> = names
        .iter()
        .map(|n| {
            name_for_arg(Path::new(n))
                .map(|(name, _)| name)
                .map_err(CliError)
        })
        .collect::<CliResult<_>>()?;
    let mut used = vec![false; wanted.len()];
    let mut picked = Vec::new();
    for (i, m) in members.iter().enumerate() {
        let mut hit = false;
        for (w, u) in wanted.iter().zip(used.iter_mut()) {
            let under = w.is_empty()
                || m.path == *w
                || (m.path.len() > w.len() && m.path.starts_with(w) && m.path[w.len()] == b'/');
            if under {
                *u = true;
                hit = true;
            }
        }
        if hit {
            picked.push(i);
        }
    }
    if let Some(missing) = used.iter().position(|u| !u) {
        return Err(CliError(format!(
            "'{}': not found in the archive",
            names[missing]
        )));
    }
    Ok(picked)
}
