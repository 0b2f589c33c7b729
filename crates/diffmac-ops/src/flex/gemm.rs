//! The crate's one use of `unsafe`: gemm's raw-pointer entry point behind a safe function that
//! checks, before the call, that every element the product reads or writes lies inside the
//! slices it was given and that no two destination elements share an address (gemm's threads
//! write them concurrently).
#![allow(unsafe_code)]

/// A matrix inside a slice: element `(i, j)` at `offset + i·row_stride + j·col_stride`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Matrix {
    /// Rows.
    pub rows: usize,
    /// Columns.
    pub cols: usize,
    /// Index of element `(0, 0)`.
    pub offset: usize,
    /// Distance between rows, in elements.
    pub row_stride: usize,
    /// Distance between columns, in elements.
    pub col_stride: usize,
}

impl Matrix {
    /// A row-major `rows × cols` matrix starting at `offset` with rows `row_stride` apart.
    pub fn rows(rows: usize, cols: usize, offset: usize, row_stride: usize) -> Self {
        Self {
            rows,
            cols,
            offset,
            row_stride,
            col_stride: 1,
        }
    }

    /// The transpose, as a view of the same elements.
    pub fn t(self) -> Self {
        Self {
            rows: self.cols,
            cols: self.rows,
            offset: self.offset,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
        }
    }

    /// Whether every element lies inside a slice of `len`, with the index computed without
    /// overflow. An empty matrix fits anywhere.
    fn fits(&self, len: usize) -> bool {
        if self.rows == 0 || self.cols == 0 {
            return true;
        }
        let last = (self.rows - 1)
            .checked_mul(self.row_stride)
            .zip((self.cols - 1).checked_mul(self.col_stride))
            .and_then(|(r, c)| r.checked_add(c))
            .and_then(|rc| rc.checked_add(self.offset));
        last.is_some_and(|last| last < len)
    }

    /// Whether distinct elements have distinct addresses: one stride steps over the whole
    /// extent of the other.
    fn injective(&self) -> bool {
        let (r, c) = (self.rows.max(1), self.cols.max(1));
        (self.col_stride >= 1 && self.row_stride >= c * self.col_stride)
            || (self.row_stride >= 1 && self.col_stride >= r * self.row_stride)
            || (r == 1 && self.col_stride >= 1)
            || (c == 1 && self.row_stride >= 1)
    }
}

/// `dst ← a·b`, or `dst ← dst + a·b` with `accumulate`, on gemm's kernels for the processor
/// found at run time; with `parallel`, split over rayon's threads.
///
/// # Panics
/// If the shapes disagree or a matrix does not lie inside its slice (a bug of the caller: the
/// kernels of this crate compute their matrices from shapes they checked).
#[allow(clippy::too_many_arguments)]
pub(super) fn gemm(
    dst: &mut [f32],
    d: Matrix,
    a: &[f32],
    am: Matrix,
    b: &[f32],
    bm: Matrix,
    accumulate: bool,
    parallel: bool,
) {
    assert!(
        d.rows == am.rows && d.cols == bm.cols && am.cols == bm.rows,
        "gemm: shapes {d:?} = {am:?} · {bm:?}"
    );
    assert!(
        d.fits(dst.len()) && am.fits(a.len()) && bm.fits(b.len()),
        "gemm: a matrix runs past its slice"
    );
    assert!(d.injective(), "gemm: destination elements overlap: {d:?}");
    if d.rows == 0 || d.cols == 0 {
        return;
    }
    if am.cols == 0 {
        if !accumulate {
            for i in 0..d.rows {
                for j in 0..d.cols {
                    dst[d.offset + i * d.row_stride + j * d.col_stride] = 0.0;
                }
            }
        }
        return;
    }
    let parallelism = if parallel {
        gemm::Parallelism::Rayon(0)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: the asserts above put every element gemm reads (`a`, `b`) or writes (`dst`)
    // inside its slice, the borrow rules keep `dst` apart from `a` and `b`, and `dst`'s
    // elements have distinct addresses, so its threads never write the same element.
    unsafe {
        gemm::gemm(
            d.rows,
            d.cols,
            am.cols,
            dst.as_mut_ptr().add(d.offset),
            d.col_stride as isize,
            d.row_stride as isize,
            accumulate,
            a.as_ptr().add(am.offset),
            am.col_stride as isize,
            am.row_stride as isize,
            b.as_ptr().add(bm.offset),
            bm.col_stride as isize,
            bm.row_stride as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The product by definition, for checking.
    fn naive(a: &[f32], am: Matrix, b: &[f32], bm: Matrix) -> Vec<f32> {
        let mut out = vec![0.0; am.rows * bm.cols];
        for i in 0..am.rows {
            for j in 0..bm.cols {
                out[i * bm.cols + j] = (0..am.cols)
                    .map(|l| {
                        a[am.offset + i * am.row_stride + l * am.col_stride]
                            * b[bm.offset + l * bm.row_stride + j * bm.col_stride]
                    })
                    .sum();
            }
        }
        out
    }

    #[test]
    fn strided_views_accumulation_and_offsets() {
        let a: Vec<f32> = (0..200).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..300).map(|i| (i as f32 * 0.21).cos()).collect();
        let am = Matrix::rows(7, 5, 3, 11);
        let bm = Matrix::rows(9, 5, 4, 13).t(); // 5 × 9, column-major
        let expected = naive(&a, am, &b, bm);
        for parallel in [false, true] {
            let mut dst = vec![1.0f32; 2 + 7 * 12];
            let d = Matrix::rows(7, 9, 2, 12);
            gemm(&mut dst, d, &a, am, &b, bm, true, parallel);
            for i in 0..7 {
                for j in 0..9 {
                    let got = dst[2 + i * 12 + j];
                    assert!((got - 1.0 - expected[i * 9 + j]).abs() < 1e-5);
                }
                // The gaps between rows are untouched.
                for j in 9..12 {
                    assert_eq!(dst[2 + i * 12 + j], 1.0);
                }
            }
            gemm(&mut dst, d, &a, am, &b, bm, false, parallel);
            assert!((dst[2] - expected[0]).abs() < 1e-5);
        }
    }

    #[test]
    #[should_panic(expected = "runs past its slice")]
    fn a_matrix_past_its_slice_is_refused_before_the_call() {
        let (a, b) = (vec![0.0f32; 10], vec![0.0f32; 10]);
        let mut dst = vec![0.0f32; 4];
        gemm(
            &mut dst,
            Matrix::rows(2, 2, 0, 2),
            &a,
            Matrix::rows(2, 5, 1, 5),
            &b,
            Matrix::rows(5, 2, 0, 2),
            false,
            false,
        );
    }

    #[test]
    #[should_panic(expected = "overlap")]
    fn an_overlapping_destination_is_refused() {
        let (a, b) = (vec![0.0f32; 4], vec![0.0f32; 4]);
        let mut dst = vec![0.0f32; 4];
        gemm(
            &mut dst,
            Matrix::rows(2, 2, 0, 1),
            &a,
            Matrix::rows(2, 2, 0, 2),
            &b,
            Matrix::rows(2, 2, 0, 2),
            false,
            false,
        );
    }
}
