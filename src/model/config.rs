//! The model's JSON description (spec/model.md §3), parsed and bounded.

use super::ModelError;
use serde_json::Value;

/// Every field of the model JSON that the engine uses. Sizes are validated at load time to the
/// bounds below, so that a hostile file cannot ask for unbounded work or memory.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelConfig {
    pub name: String,
    /// Image channels C: 1 or 3.
    pub channels: usize,
    /// Patch side P: even, 2..=MAX_PATCH.
    pub patch: usize,
    /// Number of latent layers L.
    pub latent_layers: usize,
    /// Channels per latent layer Cz.
    pub latent_channels: usize,
    /// Hidden width W of every net.
    pub width: usize,
    /// Residual blocks R per net.
    pub res_blocks: usize,
    /// Bins per latent dimension N.
    pub latent_bins: usize,
    pub min_log_scale_latent: f32,
    pub min_log_scale_pixel: f32,
    /// What the pixel likelihood sees besides z1 (spec §5).
    pub pixel_context: PixelContext,
}

/// The pixel likelihood of a model (spec §2 and §5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PixelContext {
    /// `p(x | z1)`: one logistic per sample from p0 (JSON version 1).
    None,
    /// `p(x | z1, context)`: p0's per-sample coefficients combine the sample's decoded
    /// neighbours into its mean (JSON version 2, spec §5).
    LocalLinear,
}

impl PixelContext {
    /// Logistics' worth of p0 outputs per sample: p0's `Cout` is `4C` times this.
    pub fn outputs_per_sample(self) -> usize {
        match self {
            PixelContext::None => 1,
            PixelContext::LocalLinear => 4,
        }
    }
}

pub const MAX_PATCH: usize = 256;
pub const MAX_LATENT_LAYERS: usize = 32;
pub const MAX_LATENT_CHANNELS: usize = 256;
pub const MAX_WIDTH: usize = 2048;
pub const MAX_RES_BLOCKS: usize = 64;
pub const MAX_LATENT_BINS: usize = 65536;
/// Minimum log-scales must lie in this range (so `inv_s = exp(-ls) <= e^16`).
pub const MIN_LOG_SCALE_RANGE: (f32, f32) = (-16.0, 4.0);

impl ModelConfig {
    /// The grid side of every net: P/2.
    pub fn grid(&self) -> usize {
        self.patch / 2
    }

    pub(crate) fn parse(json: &[u8]) -> Result<ModelConfig, ModelError> {
        let v: Value = serde_json::from_slice(json)
            .map_err(|e| ModelError::new(format!("model json: not valid JSON ({e})")))?;
        let obj = v
            .as_object()
            .ok_or_else(|| ModelError::new("model json: top level is not an object"))?;
        let field = |k: &str| {
            obj.get(k)
                .ok_or_else(|| ModelError::new(format!("model json: missing field `{k}`")))
        };
        let string = |k: &str| -> Result<String, ModelError> {
            field(k)?
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| ModelError::new(format!("model json: field `{k}` must be a string")))
        };
        let int = |k: &str, lo: usize, hi: usize| -> Result<usize, ModelError> {
            field(k)?
                .as_u64()
                .filter(|&x| x >= lo as u64 && x <= hi as u64)
                .map(|x| x as usize)
                .ok_or_else(|| {
                    ModelError::new(format!(
                        "model json: field `{k}` must be an integer in {lo}..={hi}"
                    ))
                })
        };
        let float = |k: &str, lo: f32, hi: f32| -> Result<f32, ModelError> {
            field(k)?
                .as_f64()
                .map(|x| x as f32)
                .filter(|&x| x >= lo && x <= hi)
                .ok_or_else(|| {
                    ModelError::new(format!(
                        "model json: field `{k}` must be a number in {lo}..={hi}"
                    ))
                })
        };

        let format = string("format")?;
        if format != "bsar-model" {
            return Err(ModelError::new(format!(
                "model json: `format` is {format:?}, expected \"bsar-model\""
            )));
        }
        let version = int("version", 0, u32::MAX as usize)?;
        // Version 2 adds `pixel_context` and nothing else; a version-1 file must not carry it,
        // so that a model's likelihood never depends on a field an older reader ignores.
        let pixel_context = match (version, obj.get("pixel_context")) {
            (1, None) => PixelContext::None,
            (2, Some(v)) => match v.as_str() {
                Some("local-linear") => PixelContext::LocalLinear,
                _ => {
                    return Err(ModelError::new(format!(
                        "model json: `pixel_context` is {v}, expected \"local-linear\""
                    )))
                }
            },
            (1, Some(_)) => {
                return Err(ModelError::new(
                    "model json: `pixel_context` needs version 2, the file says version 1",
                ))
            }
            (2, None) => {
                return Err(ModelError::new(
                    "model json: version 2 needs the field `pixel_context`",
                ))
            }
            _ => {
                return Err(ModelError::new(format!(
                    "model json: version {version} is not supported (this build reads 1 and 2)"
                )))
            }
        };
        let (lo, hi) = MIN_LOG_SCALE_RANGE;
        let c = ModelConfig {
            name: string("name")?,
            channels: int("channels", 1, 3)?,
            patch: int("patch", 2, MAX_PATCH)?,
            latent_layers: int("latent_layers", 1, MAX_LATENT_LAYERS)?,
            latent_channels: int("latent_channels", 1, MAX_LATENT_CHANNELS)?,
            width: int("width", 1, MAX_WIDTH)?,
            res_blocks: int("res_blocks", 0, MAX_RES_BLOCKS)?,
            latent_bins: int("latent_bins", 2, MAX_LATENT_BINS)?,
            min_log_scale_latent: float("min_log_scale_latent", lo, hi)?,
            min_log_scale_pixel: float("min_log_scale_pixel", lo, hi)?,
            pixel_context,
        };
        if c.channels == 2 {
            return Err(ModelError::new("model json: `channels` must be 1 or 3"));
        }
        if !c.patch.is_multiple_of(2) {
            return Err(ModelError::new(format!(
                "model json: `patch` is {}, must be even",
                c.patch
            )));
        }
        Ok(c)
    }
}
