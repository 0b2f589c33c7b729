//! NumPy's `float32` sum, bit for bit: the array is reduced in buffers of 8192 values, each by
//! NumPy's pairwise summation (8 running partial sums for up to 128 values, halves above).
//! NIQE's AGGD fit picks α by an argmin over a fine grid, so a last-bit difference in a mean
//! can move α by one grid step; repeating NumPy's order keeps our α equal to basicsr's.

/// NumPy's pairwise summation of one buffer.
fn pairwise(a: &[f32]) -> f32 {
    let n = a.len();
    if n < 8 {
        a.iter().fold(0.0_f32, |acc, &v| acc + v)
    } else if n <= 128 {
        let mut r = [0.0_f32; 8];
        r.copy_from_slice(&a[..8]);
        let whole = n - n % 8;
        for chunk in a[8..whole].chunks_exact(8) {
            for (acc, &v) in r.iter_mut().zip(chunk) {
                *acc += v;
            }
        }
        let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for &v in &a[whole..] {
            res += v;
        }
        res
    } else {
        let mut n2 = n / 2;
        n2 -= n2 % 8;
        pairwise(&a[..n2]) + pairwise(&a[n2..])
    }
}

/// `np.sum` of a contiguous `float32` array.
pub fn np_sum_f32(a: &[f32]) -> f32 {
    let mut chunks = a.chunks(8192);
    let first = chunks.next().map_or(0.0, pairwise);
    chunks.fold(first, |acc, c| acc + pairwise(c))
}

/// `np.mean` of a contiguous `float32` array (`NaN` when empty, as NumPy).
pub fn np_mean_f32(a: &[f32]) -> f32 {
    if a.is_empty() {
        return f32::NAN;
    }
    np_sum_f32(a) / a.len() as f32
}
