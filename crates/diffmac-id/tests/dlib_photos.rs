//! dlib's ResNet on real photos through our own face pipeline (MTCNN → FFHQ 512 → dlib chip):
//! photos of the same person must be nearer than photos of different people. Needs the
//! fetched weights (`scripts/fetch_identity_weights.sh`); prints SKIPPED and passes otherwise.
//!
//! People: `examples/faces` (Barack Obama, Joe Biden, Eileen Collins), the Obama photo
//! mirrored (same person, another image), and, when the fetch script has put them in
//! `weights/identity/photos`, two more photos of Barack Obama from face_recognition 1.3.0.

mod common;

use burn::backend::Flex;
use diffmac_face::Mtcnn;
use diffmac_id::IdentityEncoder;
use image::imageops::flip_horizontal;

#[test]
fn same_person_is_nearer_than_different_people() {
    let Some(net) = common::dlib_net("same_person_is_nearer_than_different_people") else {
        return;
    };
    let mtcnn = Mtcnn::<Flex>::pretrained(&Default::default()).expect("MTCNN weights");
    let root = common::root();
    // (name, person, photo)
    let mut photos = Vec::new();
    for (file, person) in [
        ("obama.jpg", "obama"),
        ("biden.jpg", "biden"),
        ("astronaut.png", "collins"),
    ] {
        photos.push((
            file.to_string(),
            person,
            common::photo(&root.join("examples/faces").join(file)),
        ));
    }
    let mirrored = flip_horizontal(&photos[0].2);
    photos.push(("obama.jpg mirrored".into(), "obama", mirrored));
    for file in ["obama2.jpg", "obama3.jpg"] {
        let path = root.join("weights/identity/photos").join(file);
        if path.exists() {
            photos.push((file.into(), "obama", common::photo(&path)));
        } else {
            println!(
                "note: {} not fetched, using the committed faces only",
                path.display()
            );
        }
    }
    let faces: Vec<_> = photos
        .iter()
        .map(|(name, _, p)| common::ffhq_face(&mtcnn, p, name))
        .collect();
    let e = net
        .embed(common::chips(&faces))
        .into_data()
        .into_vec::<f32>()
        .unwrap();
    let e: Vec<&[f32]> = e.chunks(128).collect();
    let (mut same_max, mut diff_min) = (0.0f32, f32::MAX);
    let (mut same_cos_min, mut diff_cos_max) = (f32::MAX, f32::MIN);
    for i in 0..photos.len() {
        for j in i + 1..photos.len() {
            let (d, c) = (common::distance(e[i], e[j]), common::cosine(e[i], e[j]));
            let same = photos[i].1 == photos[j].1;
            println!(
                "{:>18} vs {:<18} {}: distance {d:.4}, cosine {c:.4}",
                photos[i].0,
                photos[j].0,
                if same { "same" } else { "diff" }
            );
            if same {
                same_max = same_max.max(d);
                same_cos_min = same_cos_min.min(c);
            } else {
                diff_min = diff_min.min(d);
                diff_cos_max = diff_cos_max.max(c);
            }
        }
    }
    println!("same person: distance <= {same_max:.4}, cosine >= {same_cos_min:.4}");
    println!("different:   distance >= {diff_min:.4}, cosine <= {diff_cos_max:.4}");
    let threshold = net.distance_threshold as f32;
    assert!(
        same_max < threshold,
        "a same-person pair is at {same_max} >= {threshold}"
    );
    assert!(
        diff_min > threshold,
        "a different-person pair is at {diff_min} <= {threshold}"
    );
    assert!(
        same_cos_min > diff_cos_max + 0.05,
        "cosine: same-person minimum {same_cos_min} not clearly above different-person maximum \
         {diff_cos_max}"
    );
}

/// Our chip (MTCNN → FFHQ 512 → `ffhq_to_dlib_chip`) against dlib's own chip (HOG detector,
/// 5-point shape predictor, `get_face_chip`) of the same photo: the descriptors must stay
/// well inside dlib's same-person distance.
#[test]
fn ffhq_chip_approximates_dlibs_own_chip() {
    let Some(net) = common::dlib_net("ffhq_chip_approximates_dlibs_own_chip") else {
        return;
    };
    let mtcnn = Mtcnn::<Flex>::pretrained(&Default::default()).expect("MTCNN weights");
    let (_, dlib_descriptors, names) = common::reference();
    let root = common::root();
    let mut worst = 0.0f32;
    for (name, want) in names.iter().zip(&dlib_descriptors) {
        let path = root.join("examples/faces").join(name);
        if !path.exists() {
            continue; // the random chip
        }
        let face = common::ffhq_face(&mtcnn, &common::photo(&path), name);
        let got = net.embed(common::chips(&[face]));
        let got = got.into_data().into_vec::<f32>().unwrap();
        let d = common::distance(&got, want);
        println!("{name}: our chip vs dlib's chip: distance {d:.4}");
        worst = worst.max(d);
    }
    assert!(worst > 0.0, "no committed photo was compared");
    assert!(
        worst < 0.3,
        "our chip's descriptor is {worst} from dlib's own"
    );
}
