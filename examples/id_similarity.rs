//! Identity similarity of the faces in two images, with dlib's face recognition ResNet (or an
//! ArcFace IResNet) from `diffmac-id`.
//!
//! ```sh
//! scripts/fetch_identity_weights.sh          # once: fetches and converts dlib's network
//! cargo run --release --example id_similarity -- A.jpg B.jpg
//! cargo run --release --example id_similarity -- --aligned face_a.png face_b.png
//! ```
//!
//! Each image goes through `diffmac-face` (MTCNN, largest face, FFHQ alignment to 512×512) and
//! then the crop to the network's input (dlib's 150×150 chip, `diffmac_id::dlib::chip`). When
//! no face is detected (e.g. a tight crop of a face) the whole image, centre-cropped to a square
//! and resized, is taken as the network's input; the program says which path each image took.
//! With `--aligned` the images are taken as FFHQ-aligned faces (crops written by
//! `detect_faces --crops`, or restorations) and detection is skipped.
//!
//! Prints the cosine similarity of the two embeddings and, for dlib's network, the Euclidean
//! distance of its descriptors (dlib: the same person below 0.6). Exit codes: 0 done, 1 an
//! input or the weights could not be read, 2 usage error.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use diffmac::backend::{BACKEND_NAME, DefaultBackend, default_device};
use diffmac::io::{IoError, images_to_tensor, load_image};
use diffmac_face::faces::{align_face, find_faces};
use diffmac_face::{FaceOptions, FaceSelection, Mtcnn};
use diffmac_id::{
    IdError, IdentityEncoder, IdentityNetwork, cosine_similarity, euclidean_distance,
    load_identity_encoder,
};
use image::Rgb32FImage;
use image::imageops::{FilterType, crop_imm, resize};

type B = DefaultBackend;

const DEFAULT_WEIGHTS: &str = "weights/identity/dlib_resnet_v1.safetensors";

#[derive(Parser, Debug)]
#[command(about = "Identity similarity (cosine, and dlib distance) of the faces in two images")]
struct Args {
    /// First image.
    a: PathBuf,
    /// Second image.
    b: PathBuf,
    /// The images are FFHQ-aligned faces (square): skip face detection.
    #[arg(long)]
    aligned: bool,
    /// Identity network weights (safetensors), as written by scripts/fetch_identity_weights.sh
    /// or scripts/reference/iresnet_convert.py.
    #[arg(long, default_value = DEFAULT_WEIGHTS)]
    weights: PathBuf,
    /// Kind of network in --weights: auto, dlib_resnet_v1 or arcface_iresnet.
    #[arg(long, default_value = "auto",
          value_parser = ["auto", "dlib_resnet_v1", "arcface_iresnet"])]
    kind: String,
}

fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(a) => a,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Our errors already name the file and include their cause.
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

/// How an image became the network's input.
enum Source {
    Detected { score: f32 },
    Aligned,
    WholeImage,
}

/// The network input `[1, 3, S, S]` for one image, and how it was obtained.
fn face_input(
    path: &Path,
    args: &Args,
    net: &IdentityNetwork<B>,
    mtcnn: &Mtcnn<B>,
) -> anyhow::Result<(burn::tensor::Tensor<B, 4>, Source)> {
    let device = default_device();
    let photo = load_image(path, diffmac::io::DEFAULT_MAX_PIXELS)?;
    let (w, h) = photo.rgb.dimensions();
    if args.aligned {
        if w != h {
            anyhow::bail!(
                "{}: --aligned needs a square face crop, got {w}x{h}",
                path.display()
            );
        }
        let x = images_to_tensor::<B>(&[photo.rgb], &device)?;
        return Ok((net.prepare_ffhq(x)?, Source::Aligned));
    }
    let options = FaceOptions {
        selection: FaceSelection::Largest,
        ..Default::default()
    };
    let found = find_faces(mtcnn, &photo.rgb, &options)?;
    if let Some(face) = found.first() {
        let aligned = align_face(&photo.rgb, face, &options)?;
        let x = images_to_tensor::<B>(&[aligned.crop], &device)?;
        return Ok((net.prepare_ffhq(x)?, Source::Detected { score: face.score }));
    }
    // No face found: take the image as a crop of the face, as the network's input.
    let side = w.min(h);
    let square: Rgb32FImage =
        crop_imm(&photo.rgb, (w - side) / 2, (h - side) / 2, side, side).to_image();
    let s = net.input_size() as u32;
    let input = resize(&square, s, s, FilterType::Triangle);
    Ok((
        images_to_tensor::<B>(&[input], &device)?,
        Source::WholeImage,
    ))
}

fn run(args: &Args) -> anyhow::Result<()> {
    let device = default_device();
    let net = match load_identity_encoder::<B>(&args.kind, &args.weights, &device) {
        Ok(net) => net,
        Err(e @ IdError::File(IoError::Io { .. })) => anyhow::bail!(
            "{e}\nfetch dlib's network with scripts/fetch_identity_weights.sh (run from the \
             workspace root; it writes {DEFAULT_WEIGHTS}), or pass --weights"
        ),
        Err(e) => return Err(e.into()),
    };
    let mtcnn = Mtcnn::<B>::pretrained(&device)?;
    let mut embeddings = Vec::with_capacity(2);
    for path in [&args.a, &args.b] {
        let (x, source) = face_input(path, args, &net, &mtcnn)?;
        let how = match source {
            Source::Detected { score } => {
                format!("face detected (MTCNN score {score:.3}), FFHQ-aligned")
            }
            Source::Aligned => "taken as an FFHQ-aligned face (--aligned)".into(),
            Source::WholeImage => "no face detected: whole image used as the face crop".into(),
        };
        println!("{}: {how}", path.display());
        embeddings.push(net.embed(x));
    }
    let (a, b) = (embeddings[0].clone(), embeddings[1].clone());
    let cosine = cosine_similarity(a.clone(), b.clone()).into_scalar();
    println!(
        "network: {} ({}-D, {}x{} input) on {BACKEND_NAME}",
        net.kind(),
        net.embedding_dim(),
        net.input_size(),
        net.input_size()
    );
    println!("cosine similarity: {cosine:.4}");
    if let IdentityNetwork::Dlib(dlib) = &net {
        let distance = euclidean_distance(a, b).into_scalar();
        let verdict = if f64::from(distance) < dlib.distance_threshold {
            "same person"
        } else {
            "different people"
        };
        println!(
            "dlib distance: {distance:.4} ({verdict} by dlib's threshold {:.2})",
            dlib.distance_threshold
        );
    }
    Ok(())
}
