//! `bsar models`: the models built into this bsar, and which of them `create` offers to new
//! chunks (every one that no other supersedes).

use super::{CliError, CliResult};
use crate::shipped;

pub fn run() -> CliResult<()> {
    let all = shipped::all().map_err(|e| CliError(e.to_string()))?;
    let width = all.iter().map(|e| e.name.len()).max().unwrap_or(4).max(4);
    println!(
        "{:<width$} {:<16} {:>8} {:>6} {:>7} {:>8}  about",
        "name", "id", "channels", "patch", "layers", "MMAC"
    );
    for e in all {
        let c = e.model.config();
        let about = match e.superseded_by {
            Some(by) => format!(
                "{} [superseded by {by}: reads the archives that use it, not offered to new \
                 chunks unless named by --model]",
                e.about
            ),
            None => e.about.to_string(),
        };
        println!(
            "{:<width$} {:<16} {:>8} {:>6} {:>7} {:>8.0}  {}",
            e.name,
            crate::model::short_id(&e.model.id()),
            c.channels,
            c.patch,
            c.latent_layers,
            e.model.macs_per_patch() as f64 / 1e6,
            about
        );
    }
    Ok(())
}
