//! The host emulation: the CUDA kernels compiled as C++ by build.rs and run on the CPU, one loop
//! iteration per GPU thread. Slow, single-threaded, and bit for bit what the GPU computes (the
//! same source, the same IEEE operations); it exists so that tests can check the kernels
//! without a GPU.

use super::kernels::{check_cdf, want, ConvShape, Elem, GpuResult, Kernels, RansShape};
use crate::model::TABLE_LEN;

extern "C" {
    fn bsar_host_rans_push(
        n: u32,
        count: u32,
        p: u32,
        start: *const u32,
        freq: *const u32,
        heads: *mut u64,
        tail: *mut u32,
        tail_len: *mut u32,
        cap: u32,
        status: *mut u32,
    );
    fn bsar_host_rans_pop(
        n: u32,
        count: u32,
        p: u32,
        start: *const u32,
        freq: *const u32,
        heads: *mut u64,
        tail: *const u32,
        tail_len: *mut u32,
        borrowed: *mut u64,
    );
    fn bsar_host_rans_pop_cdf(
        n: u32,
        count: u32,
        p: u32,
        cdf: *const u32,
        nsym: u32,
        sym: *mut u32,
        heads: *mut u64,
        tail: *const u32,
        tail_len: *mut u32,
        borrowed: *mut u64,
    );
    fn bsar_host_conv3x3(
        nb: u32,
        g: u32,
        cin: u32,
        cout: u32,
        w: *const f32,
        bias: *const f32,
        input: *const f32,
        out: *mut f32,
        accumulate: u32,
    );
    fn bsar_host_elu(n: u64, src: *const f32, dst: *mut f32);
    fn bsar_host_logistic_params(
        n: u64,
        cout: u32,
        min_ls: f32,
        raw: *const f32,
        mu: *mut f32,
        ls: *mut f32,
        inv_s: *mut f32,
    );
    fn bsar_host_squeeze_pixels(count: u64, p: u32, c: u32, pixels: *const u8, out: *mut f32);
    fn bsar_host_logistic_cdf(
        ndist: u64,
        nbins: u32,
        edges: *const f32,
        table: *const u32,
        mu: *const f32,
        inv_s: *const f32,
        p: u32,
        out: *mut u32,
    );
}

/// The kernels run on the CPU (see the module comment).
#[derive(Clone, Copy, Debug, Default)]
pub struct HostKernels;

/// Checks what the kernels assume about intervals (a zero frequency would divide by zero).
pub(crate) fn check_intervals(start: &[u32], freq: &[u32], precision: u32) -> GpuResult<()> {
    let top = 1u64 << precision;
    if start
        .iter()
        .zip(freq)
        .all(|(&s, &f)| f >= 1 && s as u64 + f as u64 <= top)
    {
        Ok(())
    } else {
        Err(super::kernels::fail(format!(
            "rANS interval outside [0, 2^{precision}) or empty"
        )))
    }
}

impl Kernels for HostKernels {
    type Buf<T: Elem> = Vec<T>;

    fn upload<T: Elem>(&self, data: &[T]) -> GpuResult<Vec<T>> {
        Ok(data.to_vec())
    }
    fn zeros<T: Elem>(&self, n: usize) -> GpuResult<Vec<T>> {
        Ok(vec![T::default(); n])
    }
    fn download<T: Elem>(&self, buf: &Vec<T>) -> GpuResult<Vec<T>> {
        Ok(buf.clone())
    }
    fn len<T: Elem>(buf: &Vec<T>) -> usize {
        buf.len()
    }
    fn synchronize(&self) -> GpuResult<()> {
        Ok(())
    }
    fn describe(&self) -> String {
        "host emulation (the CUDA kernels compiled for the CPU, 1 thread)".into()
    }

    fn rans_push(
        &self,
        s: RansShape,
        start: &Vec<u32>,
        freq: &Vec<u32>,
        heads: &mut Vec<u64>,
        tail: &mut Vec<u32>,
        tail_len: &mut Vec<u32>,
        status: &mut Vec<u32>,
    ) -> GpuResult<()> {
        s.check()?;
        want("start", start.len(), s.n * s.count)?;
        want("freq", freq.len(), s.n * s.count)?;
        check_intervals(start, freq, s.precision)?;
        want("heads", heads.len(), s.n)?;
        want("tail", tail.len(), s.n * s.cap)?;
        want("tail_len", tail_len.len(), s.n)?;
        want("status", status.len(), s.n)?;
        if tail_len.iter().any(|&l| l as usize > s.cap) {
            return Err(super::kernels::fail("tail length above capacity".into()));
        }
        // SAFETY: every length is checked above against the shape the kernel indexes by.
        unsafe {
            bsar_host_rans_push(
                s.n as u32,
                s.count as u32,
                s.precision,
                start.as_ptr(),
                freq.as_ptr(),
                heads.as_mut_ptr(),
                tail.as_mut_ptr(),
                tail_len.as_mut_ptr(),
                s.cap as u32,
                status.as_mut_ptr(),
            )
        };
        Ok(())
    }

    fn rans_pop(
        &self,
        s: RansShape,
        start: &Vec<u32>,
        freq: &Vec<u32>,
        heads: &mut Vec<u64>,
        tail: &Vec<u32>,
        tail_len: &mut Vec<u32>,
        borrowed: &mut Vec<u64>,
    ) -> GpuResult<()> {
        s.check()?;
        want("start", start.len(), s.n * s.count)?;
        want("freq", freq.len(), s.n * s.count)?;
        check_intervals(start, freq, s.precision)?;
        want("heads", heads.len(), s.n)?;
        want("tail", tail.len(), s.n * s.cap)?;
        want("tail_len", tail_len.len(), s.n)?;
        want("borrowed", borrowed.len(), s.n)?;
        if tail_len.iter().any(|&l| l as usize > s.cap) {
            return Err(super::kernels::fail("tail length above capacity".into()));
        }
        // SAFETY: lengths checked above; the kernel reads tail words below tail_len only.
        unsafe {
            bsar_host_rans_pop(
                s.n as u32,
                s.count as u32,
                s.precision,
                start.as_ptr(),
                freq.as_ptr(),
                heads.as_mut_ptr(),
                tail.as_ptr(),
                tail_len.as_mut_ptr(),
                borrowed.as_mut_ptr(),
            )
        };
        Ok(())
    }

    fn rans_pop_cdf(
        &self,
        s: RansShape,
        cdf: &Vec<u32>,
        sym: &mut Vec<u32>,
        heads: &mut Vec<u64>,
        tail: &Vec<u32>,
        tail_len: &mut Vec<u32>,
        borrowed: &mut Vec<u64>,
    ) -> GpuResult<()> {
        s.check()?;
        want("cdf", cdf.len(), s.nsym + 1)?;
        check_cdf(cdf, s.precision)?;
        want("sym", sym.len(), s.n * s.count)?;
        want("heads", heads.len(), s.n)?;
        want("tail", tail.len(), s.n * s.cap)?;
        want("tail_len", tail_len.len(), s.n)?;
        want("borrowed", borrowed.len(), s.n)?;
        if tail_len.iter().any(|&l| l as usize > s.cap) {
            return Err(super::kernels::fail("tail length above capacity".into()));
        }
        // SAFETY: lengths checked above; the CDF is valid, so the search stays in 0..nsym.
        unsafe {
            bsar_host_rans_pop_cdf(
                s.n as u32,
                s.count as u32,
                s.precision,
                cdf.as_ptr(),
                s.nsym as u32,
                sym.as_mut_ptr(),
                heads.as_mut_ptr(),
                tail.as_ptr(),
                tail_len.as_mut_ptr(),
                borrowed.as_mut_ptr(),
            )
        };
        Ok(())
    }

    fn conv3x3(
        &self,
        c: ConvShape,
        w: &Vec<f32>,
        bias: &Vec<f32>,
        input: &Vec<f32>,
        out: &mut Vec<f32>,
        accumulate: bool,
    ) -> GpuResult<()> {
        c.check()?;
        want("weights", w.len(), 9 * c.cin * c.cout)?;
        want("bias", bias.len(), c.cout)?;
        want("input", input.len(), c.in_len())?;
        want("output", out.len(), c.out_len())?;
        // SAFETY: lengths checked above.
        unsafe {
            bsar_host_conv3x3(
                c.nb as u32,
                c.g as u32,
                c.cin as u32,
                c.cout as u32,
                w.as_ptr(),
                bias.as_ptr(),
                input.as_ptr(),
                out.as_mut_ptr(),
                accumulate as u32,
            )
        };
        Ok(())
    }

    fn elu(&self, src: &Vec<f32>, dst: &mut Vec<f32>) -> GpuResult<()> {
        want("elu output", dst.len(), src.len())?;
        // SAFETY: equal lengths.
        unsafe { bsar_host_elu(src.len() as u64, src.as_ptr(), dst.as_mut_ptr()) };
        Ok(())
    }

    fn logistic_params(
        &self,
        cout: usize,
        min_ls: f32,
        raw: &Vec<f32>,
        mu: &mut Vec<f32>,
        ls: &mut Vec<f32>,
        inv_s: &mut Vec<f32>,
    ) -> GpuResult<()> {
        if cout == 0 || cout > u32::MAX as usize || raw.len() % (2 * cout) != 0 {
            return Err(super::kernels::fail("logistic_params: bad shape".into()));
        }
        let n = raw.len() / (2 * cout);
        want("mu", mu.len(), n * cout)?;
        want("ls", ls.len(), n * cout)?;
        want("inv_s", inv_s.len(), n * cout)?;
        // SAFETY: lengths checked above.
        unsafe {
            bsar_host_logistic_params(
                n as u64,
                cout as u32,
                min_ls,
                raw.as_ptr(),
                mu.as_mut_ptr(),
                ls.as_mut_ptr(),
                inv_s.as_mut_ptr(),
            )
        };
        Ok(())
    }

    fn squeeze_pixels(
        &self,
        p: usize,
        c: usize,
        pixels: &Vec<u8>,
        out: &mut Vec<f32>,
    ) -> GpuResult<()> {
        if p == 0 || p % 2 != 0 || c == 0 || pixels.len() % (p * p * c) != 0 {
            return Err(super::kernels::fail("squeeze_pixels: bad shape".into()));
        }
        want("squeezed", out.len(), pixels.len())?;
        // SAFETY: lengths checked above; every sample lands inside its own patch.
        unsafe {
            bsar_host_squeeze_pixels(
                pixels.len() as u64,
                p as u32,
                c as u32,
                pixels.as_ptr(),
                out.as_mut_ptr(),
            )
        };
        Ok(())
    }

    fn logistic_cdf(
        &self,
        edges: &Vec<f32>,
        table: &Vec<u32>,
        mu: &Vec<f32>,
        inv_s: &Vec<f32>,
        precision: u32,
        out: &mut Vec<u32>,
    ) -> GpuResult<()> {
        let nbins = edges.len() + 1;
        check_cdf_shape(nbins, precision, table.len(), mu.len(), inv_s.len())?;
        want("cdf output", out.len(), mu.len() * (nbins + 1))?;
        // SAFETY: lengths checked above.
        unsafe {
            bsar_host_logistic_cdf(
                mu.len() as u64,
                nbins as u32,
                edges.as_ptr(),
                table.as_ptr(),
                mu.as_ptr(),
                inv_s.as_ptr(),
                precision,
                out.as_mut_ptr(),
            )
        };
        Ok(())
    }
}

pub(crate) fn check_cdf_shape(
    nbins: usize,
    precision: u32,
    table: usize,
    mu: usize,
    inv_s: usize,
) -> GpuResult<()> {
    want("logistic table", table, TABLE_LEN)?;
    want("inv_s", inv_s, mu)?;
    if precision > 31 || (1u64 << precision) < nbins as u64 || nbins < 2 {
        return Err(super::kernels::fail(format!(
            "precision {precision} cannot hold {nbins} bins"
        )));
    }
    Ok(())
}
