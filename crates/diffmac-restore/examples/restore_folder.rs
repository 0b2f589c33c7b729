//! Restores every photo of a folder (or one photo) with a model bundle, as `diffmac-restore`
//! does, through the library's one entry point, and prints what the run tells:
//!
//! ```sh
//! diffmac-convert tiny --output models/tiny   # a toy model, to try it without trained weights
//! cargo run --release -p diffmac-restore --example restore_folder -- models/tiny examples/faces out
//! ```

use burn::backend::Flex;
use diffmac_restore::run::{RunEvent, RunOptions, run};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(model), Some(input), Some(output)) = (args.next(), args.next(), args.next()) else {
        return Err("usage: restore_folder MODEL_DIR INPUT OUTPUT".into());
    };
    // The tool's defaults: whole photos, RetinaFace, the paper's 50 + 50 DDPM steps.
    let options = RunOptions {
        model: Some(model.into()),
        ..RunOptions::new(input, output)
    };
    let summary = run::<Flex>(&options, &Default::default(), &mut |event: &RunEvent<
        '_,
    >| {
        if let Some(line) = event.message() {
            eprintln!("{line}");
        }
    })?;
    println!(
        "{} face(s) restored from {} of {} input(s), {} failed",
        summary.faces, summary.done, summary.inputs, summary.failed
    );
    Ok(())
}
