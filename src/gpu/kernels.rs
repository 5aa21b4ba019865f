//! The kernel interface shared by the GPU ([`super::Gpu`]) and the host emulation
//! ([`super::HostKernels`]). Each method checks every buffer length against the shape it is
//! given before anything runs, so that no kernel reads or writes out of bounds.

use cust::memory::DeviceCopy;
use std::fmt;

/// One line saying what went wrong on the device (or why there is none).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GpuError(pub String);

impl fmt::Display for GpuError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for GpuError {}

impl From<cust::error::CudaError> for GpuError {
    fn from(e: cust::error::CudaError) -> Self {
        GpuError(format!("CUDA: {e}"))
    }
}

pub type GpuResult<T> = Result<T, GpuError>;

/// Element types the kernels take.
pub trait Elem: DeviceCopy + Copy + Default + Send + Sync + 'static {}
impl Elem for u8 {}
impl Elem for u32 {}
impl Elem for u64 {}
impl Elem for f32 {}

/// The kernels of `kernels/*.cu` (see there for the exact arithmetic and layouts).
pub trait Kernels {
    /// A buffer of `T` where the kernels can reach it.
    type Buf<T: Elem>;

    fn upload<T: Elem>(&self, data: &[T]) -> GpuResult<Self::Buf<T>>;
    fn zeros<T: Elem>(&self, n: usize) -> GpuResult<Self::Buf<T>>;
    fn download<T: Elem>(&self, buf: &Self::Buf<T>) -> GpuResult<Vec<T>>;
    fn len<T: Elem>(buf: &Self::Buf<T>) -> usize;
    /// Waits until every launched kernel has finished (for timing).
    fn synchronize(&self) -> GpuResult<()>;
    /// What runs the kernels, for reports.
    fn describe(&self) -> String;
    /// Makes the calling thread able to launch kernels (a GPU binds its context to it); call
    /// it before launching from a thread other than the one that made the device.
    fn bind_thread(&self) -> GpuResult<()> {
        Ok(())
    }

    /// Pushes `count` symbols on each of `n` streams (layouts: `kernels/rans.cu`).
    #[allow(clippy::too_many_arguments)]
    fn rans_push(
        &self,
        s: RansShape,
        start: &Self::Buf<u32>,
        freq: &Self::Buf<u32>,
        heads: &mut Self::Buf<u64>,
        tail: &mut Self::Buf<u32>,
        tail_len: &mut Self::Buf<u32>,
        status: &mut Self::Buf<u32>,
    ) -> GpuResult<()>;

    /// Undoes `rans_push` with the same intervals.
    #[allow(clippy::too_many_arguments)]
    fn rans_pop(
        &self,
        s: RansShape,
        start: &Self::Buf<u32>,
        freq: &Self::Buf<u32>,
        heads: &mut Self::Buf<u64>,
        tail: &Self::Buf<u32>,
        tail_len: &mut Self::Buf<u32>,
        borrowed: &mut Self::Buf<u64>,
    ) -> GpuResult<()>;

    /// Decodes `count` symbols per stream under one categorical CDF (`nsym + 1` entries).
    #[allow(clippy::too_many_arguments)]
    fn rans_pop_cdf(
        &self,
        s: RansShape,
        cdf: &Self::Buf<u32>,
        sym: &mut Self::Buf<u32>,
        heads: &mut Self::Buf<u64>,
        tail: &Self::Buf<u32>,
        tail_len: &mut Self::Buf<u32>,
        borrowed: &mut Self::Buf<u64>,
    ) -> GpuResult<()>;

    /// 3x3 convolution, padding 1, on `nb` inputs `[g][g][cin]` (spec/model.md 4.2).
    #[allow(clippy::too_many_arguments)]
    fn conv3x3(
        &self,
        c: ConvShape,
        w: &Self::Buf<f32>,
        bias: &Self::Buf<f32>,
        input: &Self::Buf<f32>,
        out: &mut Self::Buf<f32>,
        accumulate: bool,
    ) -> GpuResult<()>;

    /// `dst = elu(src)`, elementwise.
    fn elu(&self, src: &Self::Buf<f32>, dst: &mut Self::Buf<f32>) -> GpuResult<()>;

    /// Logistic parameters (spec/model.md 4.4) of `raw [n][2 * cout]`.
    #[allow(clippy::too_many_arguments)]
    fn logistic_params(
        &self,
        cout: usize,
        min_ls: f32,
        raw: &Self::Buf<f32>,
        mu: &mut Self::Buf<f32>,
        ls: &mut Self::Buf<f32>,
        inv_s: &mut Self::Buf<f32>,
    ) -> GpuResult<()>;

    /// Squeezed first-net input from 8-bit samples `[nb][p][p][c]`.
    fn squeeze_pixels(
        &self,
        p: usize,
        c: usize,
        pixels: &Self::Buf<u8>,
        out: &mut Self::Buf<f32>,
    ) -> GpuResult<()>;

    /// Cumulative frequencies `C(0..=nbins)` of each distribution (spec/model.md 4.5).
    #[allow(clippy::too_many_arguments)]
    fn logistic_cdf(
        &self,
        edges: &Self::Buf<f32>,
        table: &Self::Buf<u32>,
        mu: &Self::Buf<f32>,
        inv_s: &Self::Buf<f32>,
        precision: u32,
        out: &mut Self::Buf<u32>,
    ) -> GpuResult<()>;
}

/// `n` streams, `count` symbols each, at precision `p`, tails of `cap` words per stream.
#[derive(Clone, Copy, Debug)]
pub struct RansShape {
    pub n: usize,
    pub count: usize,
    pub precision: u32,
    pub cap: usize,
    /// Symbols of the categorical CDF (`rans_pop_cdf` only).
    pub nsym: usize,
}

/// `nb` inputs on a `g x g` grid, `cin` -> `cout` channels.
#[derive(Clone, Copy, Debug)]
pub struct ConvShape {
    pub nb: usize,
    pub g: usize,
    pub cin: usize,
    pub cout: usize,
}

pub(crate) fn fail(msg: String) -> GpuError {
    GpuError(msg)
}

/// Checks a buffer length; the kernels trust these.
pub(crate) fn want(what: &str, got: usize, need: usize) -> GpuResult<()> {
    if got == need {
        Ok(())
    } else {
        Err(fail(format!(
            "{what}: {got} elements, the shape needs {need}"
        )))
    }
}

impl RansShape {
    pub(crate) fn check(&self) -> GpuResult<()> {
        let ok = self.n >= 1
            && self.n <= u32::MAX as usize
            && self.count <= u32::MAX as usize
            && self.cap <= u32::MAX as usize
            && (1..=31).contains(&self.precision)
            && self.n.checked_mul(self.count.max(self.cap)).is_some();
        if ok {
            Ok(())
        } else {
            Err(fail(format!("rANS shape out of range: {self:?}")))
        }
    }
}

impl ConvShape {
    pub(crate) fn check(&self) -> GpuResult<()> {
        let ok = self.g >= 1
            && self.cin >= 1
            && self.cout >= 1
            && [self.nb, self.g, self.cin, self.cout]
                .iter()
                .all(|&v| v <= u32::MAX as usize);
        if ok {
            Ok(())
        } else {
            Err(fail(format!("convolution shape out of range: {self:?}")))
        }
    }
    pub(crate) fn in_len(&self) -> usize {
        self.nb * self.g * self.g * self.cin
    }
    pub(crate) fn out_len(&self) -> usize {
        self.nb * self.g * self.g * self.cout
    }
}

/// Validates a categorical CDF: `cdf[0] = 0`, `cdf[nsym] = 2^p`, strictly increasing (every
/// bin nonempty). The decoder's search relies on it.
pub(crate) fn check_cdf(cdf: &[u32], precision: u32) -> GpuResult<()> {
    let ok = cdf.len() >= 2
        && cdf[0] == 0
        && *cdf.last().unwrap() as u64 == 1u64 << precision
        && cdf.windows(2).all(|w| w[0] < w[1]);
    if ok {
        Ok(())
    } else {
        Err(fail(
            "categorical CDF: must rise strictly from 0 to 2^precision".into(),
        ))
    }
}
