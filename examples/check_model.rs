//! Loads an exported model with bsar's engine and codes a few patches with it: the last step of
//! the train -> export -> load path (`train/ci_smoke.sh` runs it on the model it just trained).
//!
//!     cargo run --release --example check_model -- MODEL.json MODEL.safetensors

use bsar::bitswap::{self, Planes, PlanesShape, Policy, Precisions, Scheme};
use bsar::model::Model;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() != 2 {
        eprintln!("usage: check_model MODEL.json MODEL.safetensors");
        std::process::exit(2);
    }
    let read = |p: &str| std::fs::read(p).unwrap_or_else(|e| panic!("{p}: {e}"));
    let model = match Model::load(&read(&args[0]), &read(&args[1])) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("check_model: {e}");
            std::process::exit(1);
        }
    };
    let c = model.config().clone();
    let id = bsar::model::short_id(&model.id());
    println!(
        "loaded {} (id {id}): C={} P={} L={} Cz={} W={} R={}",
        c.name, c.channels, c.patch, c.latent_layers, c.latent_channels, c.width, c.res_blocks
    );
    // A smooth image one and a half patches wide: edge patches and padding are exercised.
    let (w, h) = (c.patch * 3 / 2, c.patch + 1);
    let samples: Vec<u8> = (0..w * h * c.channels)
        .map(|i| ((i / c.channels) % w * 255 / w) as u8)
        .collect();
    let img = Planes {
        width: w,
        height: h,
        channels: c.channels,
        samples,
        model: 0,
    };
    let prec = Precisions {
        pixel: 20,
        latent: 20,
    };
    let models = [&model];
    let stack = bitswap::encode(
        &models,
        Scheme::BitSwap,
        prec,
        Policy::BitsBackOnly,
        std::slice::from_ref(&img),
    )
    .expect("encode");
    let bytes = stack.to_bytes().len();
    let shape = PlanesShape {
        width: w,
        height: h,
        channels: c.channels,
        model: 0,
    };
    let back = bitswap::decode(&models, Scheme::BitSwap, prec, stack, &[shape], 0).expect("decode");
    if back[0] != img {
        eprintln!("check_model: the decoded image differs from the original");
        std::process::exit(1);
    }
    println!("coded a {w}x{h} image in {bytes} bytes and decoded it exactly");
}
