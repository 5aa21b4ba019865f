//! The models shipped in `models/` load in the engine (spec §4.7 validation, including their fitted
//! latent bin tables), carry the names and sizes the project promises, and their tables reach the
//! latents the trained posteriors produce (beyond the default table's +-6.93).

use bsar::model::Model;
use std::path::Path;

const SHIPPED: [(&str, usize, usize); 7] = [
    // (name, channels, patch)
    ("gray-photos", 1, 28),
    ("gray-mnist-ctx3", 1, 28),
    ("gray-mnist-ctx2", 1, 28),
    ("gray-mnist-ctx", 1, 28),
    ("gray-mnist", 1, 28),
    ("rgb-photos", 3, 32),
    ("rgb-fast", 3, 32),
];

#[test]
fn shipped_models_load_with_fitted_tables() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
    for (name, channels, patch) in SHIPPED {
        let json = std::fs::read(dir.join(format!("{name}.json"))).unwrap();
        let st = std::fs::read(dir.join(format!("{name}.safetensors"))).unwrap();
        assert!(
            json.len() + st.len() < 16_000_000,
            "{name}: {} bytes, over 16 MB",
            json.len() + st.len()
        );
        let m = Model::load(&json, &st).unwrap_or_else(|e| panic!("{name}: {e}"));
        let c = m.config();
        assert_eq!(
            (c.name.as_str(), c.channels, c.patch),
            (name, channels, patch)
        );
        let (edges, centres) = (m.latent_edges(), m.latent_centres());
        assert_eq!(
            (edges.len() + 1, centres.len()),
            (c.latent_bins, c.latent_bins)
        );
        assert!(
            edges[0] < -10.0 && edges[edges.len() - 1] > 10.0,
            "{name}: edges {} .. {} are not a fitted table",
            edges[0],
            edges[edges.len() - 1]
        );
    }
}
