//! MATLAB's `imresize(img, 0.5)` (bicubic, antialiased), as basicsr's
//! `utils/matlab_functions.py::imresize` re-implements it and NIQE uses it between its two
//! scales: Keys cubic (a = -0.5) stretched by 1/scale, rows normalised to sum 1, symmetric
//! (edge-including) padding. Weights are formed in `f32` as basicsr's torch code forms them.

/// Keys' cubic kernel with a = -0.5.
fn cubic(x: f32) -> f32 {
    let a = x.abs();
    let a2 = a * a;
    let a3 = a2 * a;
    if a <= 1.0 {
        1.5 * a3 - 2.5 * a2 + 1.0
    } else if a <= 2.0 {
        -0.5 * a3 + 2.5 * a2 - 4.0 * a + 2.0
    } else {
        0.0
    }
}

/// Taps of one output sample: (first 0-based input index, may be negative; weights).
fn taps(out_len: usize, scale: f32) -> Vec<(i64, Vec<f32>)> {
    let kernel_width = if scale < 1.0 { 4.0 / scale } else { 4.0 };
    let p = kernel_width.ceil() as i64 + 2;
    let mut rows: Vec<(i64, Vec<f32>)> = (1..=out_len)
        .map(|x| {
            let u = x as f32 / scale + 0.5 * (1.0 - 1.0 / scale);
            let left = (u - kernel_width / 2.0).floor() as i64;
            let w: Vec<f32> = (0..p)
                .map(|j| {
                    let d = u - (left + j) as f32;
                    if scale < 1.0 {
                        scale * cubic(d * scale)
                    } else {
                        cubic(d)
                    }
                })
                .collect();
            let sum: f32 = w.iter().sum();
            // 1-based MATLAB index `left` is 0-based `left - 1`.
            (left - 1, w.into_iter().map(|v| v / sum).collect())
        })
        .collect();
    // basicsr drops the first / last column when any row has a zero weight there.
    let first_zero = rows.iter().any(|(_, w)| w[0] == 0.0);
    let last_zero = rows.iter().any(|(_, w)| w[w.len() - 1] == 0.0);
    for (start, w) in &mut rows {
        if first_zero {
            w.remove(0);
            *start += 1;
        }
        if last_zero {
            w.pop();
        }
    }
    rows
}

/// Symmetric (half-sample, edge repeated) index into `0..n`.
fn mirror(i: i64, n: usize) -> usize {
    let n = n as i64;
    let mut i = i;
    loop {
        if i < 0 {
            i = -i - 1;
        } else if i >= n {
            i = 2 * n - 1 - i;
        } else {
            return i as usize;
        }
    }
}

/// Resizes a `width`×`height` plane by `scale` (output `ceil(side·scale)`), heights first, as
/// basicsr does; values are rounded to `f32` after each pass. Returns (plane, width, height).
pub fn imresize(
    plane: &[f64],
    width: usize,
    height: usize,
    scale: f32,
) -> (Vec<f64>, usize, usize) {
    let out_h = (height as f32 * scale).ceil() as usize;
    let out_w = (width as f32 * scale).ceil() as usize;
    let taps_h = taps(out_h, scale);
    let taps_w = taps(out_w, scale);
    let mut mid = vec![0.0; out_h * width];
    for (i, (start, w)) in taps_h.iter().enumerate() {
        for x in 0..width {
            let v: f64 = w
                .iter()
                .enumerate()
                .map(|(t, &wt)| f64::from(wt) * plane[mirror(start + t as i64, height) * width + x])
                .sum();
            mid[i * width + x] = f64::from(v as f32);
        }
    }
    let mut out = vec![0.0; out_h * out_w];
    for y in 0..out_h {
        let row = &mid[y * width..(y + 1) * width];
        for (j, (start, w)) in taps_w.iter().enumerate() {
            let v: f64 = w
                .iter()
                .enumerate()
                .map(|(t, &wt)| f64::from(wt) * row[mirror(start + t as i64, width)])
                .sum();
            out[y * out_w + j] = f64::from(v as f32);
        }
    }
    (out, out_w, out_h)
}
