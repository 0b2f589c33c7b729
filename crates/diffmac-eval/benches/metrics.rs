//! Speed of the image metrics on a 512×512 RGB face-sized image (the goal: well under a second
//! each on the CPU). `cargo bench -p diffmac-eval --bench metrics`.

use diffmac_eval::{FullReferenceOptions, Image255, SsimConvention, niqe, psnr, ssim};

fn main() {
    divan::main();
}

/// A deterministic textured 512×512 RGB image and a perturbed copy.
fn pair() -> (Image255, Image255) {
    let (w, h) = (512, 512);
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut noise = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut a = Vec::with_capacity(w * h * 3);
    let mut b = Vec::with_capacity(w * h * 3);
    for y in 0..h {
        for x in 0..w {
            for c in 0..3 {
                let v =
                    128.0 + 60.0 * ((x as f64 / 17.0 + c as f64).sin() * (y as f64 / 23.0).cos());
                let v = (v + 20.0 * noise()).round().clamp(0.0, 255.0);
                a.push(v);
                b.push((v + 10.0 * noise() - 5.0).round().clamp(0.0, 255.0));
            }
        }
    }
    (
        Image255::new(w, h, 3, a).expect("sizes match"),
        Image255::new(w, h, 3, b).expect("sizes match"),
    )
}

#[divan::bench]
fn psnr_512(bencher: divan::Bencher<'_, '_>) {
    let (a, b) = pair();
    bencher.bench(|| psnr(&a, &b, &FullReferenceOptions::default()));
}

#[divan::bench]
fn ssim_512(bencher: divan::Bencher<'_, '_>) {
    let (a, b) = pair();
    bencher.bench(|| {
        ssim(
            &a,
            &b,
            &FullReferenceOptions::default(),
            SsimConvention::Basicsr,
        )
    });
}

#[divan::bench]
fn niqe_512(bencher: divan::Bencher<'_, '_>) {
    let (a, _) = pair();
    bencher.bench(|| niqe(&a, 0));
}

/// LPIPS-Alex of one 512×512 pair on the Flex CPU backend (hash-filled full-size backbone).
#[divan::bench(sample_count = 5)]
fn lpips_alex_512(bencher: divan::Bencher<'_, '_>) {
    use diffmac_eval::lpips::{Lpips, LpipsNet, hashed_backbone};
    let (a, b) = pair();
    let device = Default::default();
    let model = Lpips::<burn::backend::Flex>::from_bytes(
        LpipsNet::Alex,
        &hashed_backbone(LpipsNet::Alex),
        std::path::Path::new("<hashed>"),
        &device,
    )
    .expect("backbone");
    bencher.bench(|| model.distance_images(&a, &b));
}

/// FID Inception-v3 pool3 features of one 512×512 image (resized to 299) on Flex.
#[divan::bench(sample_count = 5)]
fn inception_features_512(bencher: divan::Bencher<'_, '_>) {
    use diffmac_eval::fid::InceptionV3;
    let (a, _) = pair();
    let device = Default::default();
    let model = InceptionV3::<burn::backend::Flex>::hashed(&device).expect("architecture");
    bencher.bench(|| model.features(&a, &device));
}
