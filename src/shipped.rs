//! The models that ship inside bsar (`models/`, trained by `train/`; see README).
//!
//! They are compiled into the binary so that `bsar create` works with no model at hand, and are
//! parsed once, on first use. An archive records the id (content hash) of every model it used;
//! a reader that lacks one refuses that chunk with one clear line.

use crate::model::{Model, ModelError};
use std::sync::{Arc, OnceLock};

/// One shipped model: its name and files.
struct Shipped {
    name: &'static str,
    json: &'static [u8],
    weights: &'static [u8],
    /// What it is for, for `bsar models`.
    about: &'static str,
    /// The model that does its work better, where there is one: it ships only so that
    /// archives that name it keep decoding, and does not compete for new chunks (`Entry`).
    superseded_by: Option<&'static str>,
}

const SHIPPED: &[Shipped] = &[
    Shipped {
        name: "rgb-fast",
        json: include_bytes!("../models/rgb-fast.json"),
        weights: include_bytes!("../models/rgb-fast.safetensors"),
        about:
            "natural RGB images (default for RGB and RGBA: the best rate measured, 136 MMAC/patch)",
        superseded_by: None,
    },
    Shipped {
        name: "rgb-photos",
        json: include_bytes!("../models/rgb-photos.json"),
        weights: include_bytes!("../models/rgb-photos.safetensors"),
        about:
            "natural RGB images, wider and deeper (5x the compute; needs more training to pay off)",
        superseded_by: None,
    },
    Shipped {
        name: "gray-mnist-ctx3",
        json: include_bytes!("../models/gray-mnist-ctx3.json"),
        weights: include_bytes!("../models/gray-mnist-ctx3.safetensors"),
        about: "grayscale images, trained on MNIST digits; its pixels see their decoded \
                neighbours (default for grey and grey+alpha, 36 MMAC/patch)",
        superseded_by: None,
    },
    Shipped {
        name: "gray-photos",
        json: include_bytes!("../models/gray-photos.json"),
        weights: include_bytes!("../models/gray-photos.safetensors"),
        about: "grayscale photographs, trained on grey crops of photos-train; its pixels see \
                their decoded neighbours (competes with the others for each grey chunk; \
                37 MMAC/patch)",
        superseded_by: None,
    },
    Shipped {
        name: "gray-mnist-ctx2",
        json: include_bytes!("../models/gray-mnist-ctx2.json"),
        weights: include_bytes!("../models/gray-mnist-ctx2.safetensors"),
        about: "gray-mnist-ctx3 before its further training (the default before it; \
                36 MMAC/patch)",
        superseded_by: Some("gray-mnist-ctx3"),
    },
    Shipped {
        name: "gray-mnist-ctx",
        json: include_bytes!("../models/gray-mnist-ctx.json"),
        weights: include_bytes!("../models/gray-mnist-ctx.safetensors"),
        about: "gray-mnist-ctx2 before its further training (the default before it; \
                36 MMAC/patch)",
        superseded_by: Some("gray-mnist-ctx2"),
    },
    Shipped {
        name: "gray-mnist",
        json: include_bytes!("../models/gray-mnist.json"),
        weights: include_bytes!("../models/gray-mnist.safetensors"),
        about: "grayscale images, trained on MNIST digits (the default before gray-mnist-ctx; \
                469 MMAC/patch)",
        superseded_by: Some("gray-mnist-ctx"),
    },
];

/// A shipped model, loaded.
pub struct Entry {
    pub name: &'static str,
    pub about: &'static str,
    pub model: Arc<Model>,
    /// Where set, the model that does this one's work better: this one ships so that archives
    /// that name it keep decoding, and `bsar create` does not offer it to new chunks (unless
    /// asked for by name).
    pub superseded_by: Option<&'static str>,
}

/// Every shipped model, default first for each channel count. Loading is done once; a model that
/// fails to load is a build defect, reported as an error rather than a panic.
pub fn all() -> Result<&'static [Entry], ModelError> {
    static MODELS: OnceLock<Result<Vec<Entry>, ModelError>> = OnceLock::new();
    let loaded = MODELS.get_or_init(|| {
        SHIPPED
            .iter()
            .map(|s| {
                let model = Model::load(s.json, s.weights)
                    .map_err(|e| ModelError::new(format!("shipped model {}: {e}", s.name)))?;
                Ok(Entry {
                    name: s.name,
                    about: s.about,
                    model: Arc::new(model),
                    superseded_by: s.superseded_by,
                })
            })
            .collect()
    });
    loaded.as_deref().map_err(Clone::clone)
}

/// Finds a shipped model by name or by a prefix (at least 4 hex digits) of its id.
pub fn find(key: &str) -> Result<Option<&'static Entry>, ModelError> {
    let all = all()?;
    let key = key.to_ascii_lowercase();
    Ok(all
        .iter()
        .find(|e| e.name == key || (key.len() >= 4 && full_hex(&e.model.id()).starts_with(&key))))
}

fn full_hex(id: &[u8; 32]) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}
