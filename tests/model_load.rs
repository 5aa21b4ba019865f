//! Loading: good files load with the spec's id; every kind of bad file gives one clear error
//! line (never a panic).

mod model_support;

use bsar::model::Model;
use model_support::*;
use sha2::{Digest, Sha256};

const S: Shape = Shape {
    channels: 3,
    patch: 8,
    latent_layers: 2,
    latent_channels: 2,
    width: 8,
    res_blocks: 1,
    latent_bins: 64,
};

fn err(json: &[u8], st: &[u8]) -> String {
    match Model::load(json, st) {
        Ok(_) => panic!("a bad model loaded"),
        Err(e) => {
            let m = e.to_string();
            assert!(!m.contains('\n'), "error is not one line: {m}");
            m
        }
    }
}

#[test]
fn good_model_loads_with_its_id_and_config() {
    let f = random_model(S, 1);
    let st = f.safetensors();
    let m = Model::load(&f.json, &st).unwrap();
    let want: [u8; 32] = Sha256::new()
        .chain_update(&st)
        .chain_update(&f.json)
        .finalize()
        .into();
    assert_eq!(m.id(), want);
    let c = m.config();
    assert_eq!(
        (c.channels, c.patch, c.latent_layers, c.latent_channels),
        (3, 8, 2, 2)
    );
    assert_eq!(
        (c.width, c.res_blocks, c.latent_bins, c.name.as_str()),
        (8, 1, 64, "test-random")
    );
    assert_eq!(
        (c.min_log_scale_latent, c.min_log_scale_pixel),
        (-2.3026, -6.0)
    );
    assert_eq!(m.latent_edges().len(), 63);
    assert_eq!(m.latent_centres().len(), 64);
}

fn with_json(edit: impl Fn(&mut serde_json::Value)) -> String {
    let f = random_model(S, 1);
    let mut v: serde_json::Value = serde_json::from_slice(&f.json).unwrap();
    edit(&mut v);
    err(&serde_json::to_vec(&v).unwrap(), &f.safetensors())
}

#[test]
fn bad_json_is_rejected() {
    let st = random_model(S, 1).safetensors();
    assert!(err(b"{not json", &st).contains("not valid JSON"));
    assert!(err(b"[1, 2]", &st).contains("not an object"));
    assert!(with_json(|v| v["format"] = "other".into()).contains("format"));
    assert!(with_json(|v| v["version"] = 3.into()).contains("version 3"));
    // Version 2 is version 1 plus `pixel_context`: never one without the other.
    assert!(with_json(|v| v["version"] = 2.into()).contains("needs the field `pixel_context`"));
    assert!(with_json(|v| v["pixel_context"] = "local-linear".into()).contains("needs version 2"));
    assert!(with_json(|v| {
        v["version"] = 2.into();
        v["pixel_context"] = "other".into();
    })
    .contains("`pixel_context`"));
    // A local-linear model's p0 has 16C logistics' worth of outputs, not 4C.
    assert!(with_json(|v| {
        v["version"] = 2.into();
        v["pixel_context"] = "local-linear".into();
    })
    .contains("`p0.out.weight` has shape [24, 8, 3, 3], expected [96, 8, 3, 3]"));
    assert!(with_json(|v| {
        v.as_object_mut().unwrap().remove("width");
    })
    .contains("missing field `width`"));
    assert!(with_json(|v| v["channels"] = 2.into()).contains("channels"));
    assert!(with_json(|v| v["patch"] = 7.into()).contains("even"));
    assert!(with_json(|v| v["patch"] = 100000.into()).contains("patch"));
    assert!(with_json(|v| v["width"] = (-3).into()).contains("width"));
    assert!(with_json(|v| v["width"] = 1.5.into()).contains("width"));
    assert!(with_json(|v| v["latent_layers"] = 0.into()).contains("latent_layers"));
    assert!(with_json(|v| v["min_log_scale_pixel"] = 50.0.into()).contains("min_log_scale_pixel"));
    assert!(with_json(|v| v["min_log_scale_latent"] = "x".into()).contains("min_log_scale_latent"));
    // The config no longer matches the tensors.
    assert!(with_json(|v| v["width"] = 16.into()).contains("shape"));
    assert!(with_json(|v| v["latent_layers"] = 3.into()).contains("missing tensor `q2.in.weight`"));
}

fn with_tensors(edit: impl Fn(&mut Files)) -> String {
    let mut f = random_model(S, 1);
    edit(&mut f);
    err(&f.json, &f.safetensors())
}

#[test]
fn bad_tensors_are_rejected() {
    let f = random_model(S, 1);
    let st = f.safetensors();
    assert!(err(&f.json, b"").contains("safetensors"));
    assert!(err(&f.json, &st[..st.len() - 5]).contains("safetensors"));
    assert!(err(&f.json, &[0xff; 64]).contains("safetensors"));
    assert!(with_tensors(|f| {
        f.tensors.remove("p1.out.bias");
    })
    .contains("missing tensor `p1.out.bias`"));
    assert!(
        with_tensors(|f| f.tensors.get_mut("q0.in.weight").unwrap().0 = vec![8, 12, 9, 1])
            .contains("shape")
    );
    assert!(
        with_tensors(|f| f.tensors.get_mut("q1.res0.conv1.weight").unwrap().1[5] = f32::NAN)
            .contains("non-finite")
    );
    assert!(
        with_tensors(|f| f.tensors.get_mut("p0.out.bias").unwrap().1[0] = f32::INFINITY)
            .contains("non-finite")
    );
    assert!(with_tensors(|f| {
        f.tensors.insert("zz.extra".into(), (vec![1], vec![0.0]));
    })
    .contains("unexpected tensor `zz.extra`"));
    assert!(
        with_tensors(|f| f.tensors.get_mut("latent.edges").unwrap().1.swap(3, 4))
            .contains("strictly increasing")
    );
    assert!(
        with_tensors(|f| f.tensors.get_mut("latent.centres").unwrap().1[10] = 100.0)
            .contains("outside its bin")
    );
}

#[test]
fn wrong_dtype_is_rejected() {
    use safetensors::{tensor::TensorView, Dtype};
    let f = random_model(S, 1);
    let mut owned: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = f
        .tensors
        .iter()
        .map(|(k, (s, v))| {
            (
                k.clone(),
                Dtype::F32,
                s.clone(),
                v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            )
        })
        .collect();
    // q0.in.bias as F64 with the same element count.
    let e = owned.iter_mut().find(|t| t.0 == "q0.in.bias").unwrap();
    e.1 = Dtype::F64;
    e.3 = vec![0u8; e.3.len() * 2];
    let views: Vec<(String, TensorView)> = owned
        .iter()
        .map(|(k, d, s, b)| (k.clone(), TensorView::new(*d, s.clone(), b).unwrap()))
        .collect();
    let st = safetensors::tensor::serialize(views, &None).unwrap();
    assert!(err(&f.json, &st).contains("expected F32"));
}

#[test]
fn truncated_and_corrupted_files_never_panic() {
    let f = random_model(S, 2);
    let st = f.safetensors();
    for cut in (0..st.len()).step_by(97) {
        let _ = Model::load(&f.json, &st[..cut]);
    }
    let mut rng = Rng(3);
    for _ in 0..300 {
        let mut bad = st.clone();
        for _ in 0..4 {
            let i = (rng.next_u64() % bad.len() as u64) as usize;
            bad[i] = rng.next_u64() as u8;
        }
        let _ = Model::load(&f.json, &bad);
    }
    for cut in 0..f.json.len() {
        assert!(Model::load(&f.json[..cut], &st).is_err());
    }
}
