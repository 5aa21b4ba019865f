//! Reading and validating the two model files (spec/model.md §3).

use super::config::ModelConfig;
use super::conv::Conv;
use super::net::NetWeights;
use super::{Model, ModelError};
use safetensors::{Dtype, SafeTensors};
use sha2::{Digest, Sha256};
use std::collections::HashSet;

pub(super) fn load(json: &[u8], st_bytes: &[u8]) -> Result<Model, ModelError> {
    let config = ModelConfig::parse(json)?;
    let st = SafeTensors::deserialize(st_bytes).map_err(|e| {
        ModelError::new(format!("model weights: not a valid safetensors file ({e})"))
    })?;
    let mut used = HashSet::new();
    let mut get = |name: String, shape: &[usize]| -> Result<Vec<f32>, ModelError> {
        let t = st
            .tensor(&name)
            .map_err(|_| ModelError::new(format!("model weights: missing tensor `{name}`")))?;
        if t.dtype() != Dtype::F32 {
            return Err(ModelError::new(format!(
                "model weights: tensor `{name}` is {:?}, expected F32",
                t.dtype()
            )));
        }
        if t.shape() != shape {
            return Err(ModelError::new(format!(
                "model weights: tensor `{name}` has shape {:?}, expected {shape:?}",
                t.shape()
            )));
        }
        let v: Vec<f32> = t
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        if v.len() != shape.iter().product::<usize>() {
            return Err(ModelError::new(format!(
                "model weights: tensor `{name}` has the wrong byte length"
            )));
        }
        if let Some(i) = v.iter().position(|x| !x.is_finite()) {
            return Err(ModelError::new(format!(
                "model weights: tensor `{name}` holds a non-finite value at flat index {i}"
            )));
        }
        used.insert(name);
        Ok(v)
    };

    let (c, cz, wd) = (config.channels, config.latent_channels, config.width);
    let mut conv = |name: String, cout: usize, cin: usize| -> Result<Conv, ModelError> {
        let w = get(format!("{name}.weight"), &[cout, cin, 3, 3])?;
        let b = get(format!("{name}.bias"), &[cout])?;
        Ok(Conv::from_oihw(&w, &b, cout, cin))
    };
    let mut net = |name: String, cin: usize, cout: usize| -> Result<NetWeights, ModelError> {
        let conv_in = conv(format!("{name}.in"), wd, cin)?;
        let mut res = Vec::with_capacity(config.res_blocks);
        for b in 0..config.res_blocks {
            res.push([
                conv(format!("{name}.res{b}.conv1"), wd, wd)?,
                conv(format!("{name}.res{b}.conv2"), wd, wd)?,
            ]);
        }
        let conv_out = conv(format!("{name}.out"), 2 * cout, wd)?;
        Ok(NetWeights {
            cin,
            cout,
            conv_in,
            res,
            conv_out,
        })
    };
    let mut q = Vec::with_capacity(config.latent_layers);
    let mut p = Vec::with_capacity(config.latent_layers);
    for i in 0..config.latent_layers {
        q.push(net(format!("q{i}"), if i == 0 { 4 * c } else { cz }, cz)?);
    }
    for i in 0..config.latent_layers {
        p.push(if i == 0 {
            net(
                "p0".into(),
                cz,
                4 * c * config.pixel_context.outputs_per_sample(),
            )?
        } else {
            net(format!("p{i}"), cz, cz)?
        });
    }
    let n = config.latent_bins;
    let latent_edges = get("latent.edges".into(), &[n - 1])?;
    let latent_centres = get("latent.centres".into(), &[n])?;
    if let Some(i) = latent_edges.windows(2).position(|w| w[0] >= w[1]) {
        return Err(ModelError::new(format!(
            "model weights: `latent.edges` is not strictly increasing at index {}",
            i + 1
        )));
    }
    for (i, &ci) in latent_centres.iter().enumerate() {
        let lo = if i == 0 {
            f32::NEG_INFINITY
        } else {
            latent_edges[i - 1]
        };
        let hi = if i == n - 1 {
            f32::INFINITY
        } else {
            latent_edges[i]
        };
        if !(lo <= ci && ci <= hi) {
            return Err(ModelError::new(format!(
                "model weights: latent centre {i} ({ci}) lies outside its bin [{lo}, {hi}]"
            )));
        }
    }
    let mut extra: Vec<String> = st
        .names()
        .into_iter()
        .filter(|k| !used.contains(*k))
        .cloned()
        .collect();
    if !extra.is_empty() {
        extra.sort();
        return Err(ModelError::new(format!(
            "model weights: unexpected tensor `{}`",
            extra[0]
        )));
    }

    let mut h = Sha256::new();
    h.update(st_bytes);
    h.update(json);
    Ok(Model {
        config,
        q,
        p,
        latent_edges,
        latent_centres,
        id: h.finalize().into(),
    })
}
