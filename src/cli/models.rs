//! `bsar models`: the models built into this bsar.

use super::{CliError, CliResult};
use crate::shipped;

pub fn run() -> CliResult<()> {
    let all = shipped::all().map_err(|e| CliError(e.to_string()))?;
    println!(
        "{:<12} {:<16} {:>8} {:>6} {:>7} {:>8}  about",
        "name", "id", "channels", "patch", "layers", "MMAC"
    );
    for e in all {
        let c = e.model.config();
        println!(
            "{:<12} {:<16} {:>8} {:>6} {:>7} {:>8.0}  {}",
            e.name,
            crate::model::short_id(&e.model.id()),
            c.channels,
            c.patch,
            c.latent_layers,
            e.model.macs_per_patch() as f64 / 1e6,
            e.about
        );
    }
    Ok(())
}
