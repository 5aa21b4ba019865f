//! Finding a GPU: loading the driver (cuda/link/loader.c), initialising it, taking device 0's
//! primary context and loading the kernels. [`probe`] gives either a ready [`Gpu`] or one line
//! saying why not; and the [`Kernels`] launches on the device.

use super::host::check_cdf_shape;
use super::kernels::{
    check_cdf, fail, want, ConvShape, Elem, GpuError, GpuResult, Kernels, RansShape,
};
use cust::context::{Context, CurrentContext};
use cust::device::Device;
use cust::memory::{CopyDestination, DeviceBuffer};
use cust::module::Module;
use cust::prelude::{Stream, StreamFlags};
use cust::{launch, CudaFlags};
use std::ffi::{c_char, c_int, CStr};

extern "C" {
    fn bsar_cuda_driver_load(msg: *mut c_char, len: usize) -> c_int;
}

/// Threads per block of every kernel.
const BLOCK: u32 = 256;

/// A CUDA device ready to run bsar's kernels. Owns a stream, the loaded module and the primary
/// context of the device (released last: fields drop in order).
pub struct Gpu {
    stream: Stream,
    module: Module,
    _context: Context,
    name: String,
}

/// Loads the driver and returns device 0 with the kernels loaded, or one line saying why there
/// is no usable GPU ("no CUDA driver (libcuda.so.1 not found)", "no CUDA device", ...).
pub fn probe() -> Result<Gpu, GpuError> {
    let mut msg = [0 as c_char; 256];
    // SAFETY: the buffer is writable for its length; the shim writes a NUL-terminated string.
    if unsafe { bsar_cuda_driver_load(msg.as_mut_ptr(), msg.len()) } != 0 {
        // SAFETY: NUL-terminated by snprintf in the shim.
        let why = unsafe { CStr::from_ptr(msg.as_ptr()) }.to_string_lossy();
        return Err(fail(format!("no CUDA driver ({})", why.trim())));
    }
    if let Err(e) = cust::init(CudaFlags::empty()) {
        return Err(fail(match e {
            cust::error::CudaError::NoDevice => "no CUDA device".to_string(),
            e => format!("the CUDA driver did not initialise: {e}"),
        }));
    }
    let count = Device::num_devices().map_err(|e| fail(format!("CUDA device count: {e}")))?;
    if count == 0 {
        return Err(fail("no CUDA device".into()));
    }
    let device = Device::get_device(0)?;
    let name = device.name().unwrap_or_else(|_| "unnamed device".into());
    let context = Context::new(device).map_err(|e| fail(format!("CUDA context on {name}: {e}")))?;
    let module = Module::from_ptx(super::PTX, &[])
        .map_err(|e| fail(format!("{name}: loading the kernels (PTX): {e}")))?;
    let stream = Stream::new(StreamFlags::DEFAULT, None)?;
    Ok(Gpu {
        stream,
        module,
        _context: context,
        name,
    })
}

impl Gpu {
    /// The device's name, e.g. "NVIDIA H200".
    pub fn name(&self) -> &str {
        &self.name
    }
}

fn grid(items: usize) -> GpuResult<u32> {
    let blocks = items.div_ceil(BLOCK as usize).max(1);
    u32::try_from(blocks)
        .ok()
        .filter(|&b| b < 1 << 31)
        .ok_or_else(|| fail(format!("{items} work items are too many for one launch")))
}

impl Kernels for Gpu {
    type Buf<T: Elem> = DeviceBuffer<T>;

    fn upload<T: Elem>(&self, data: &[T]) -> GpuResult<DeviceBuffer<T>> {
        if data.is_empty() {
            // cust cannot allocate zero bytes; one spare element stands for an empty buffer.
            return Ok(DeviceBuffer::from_slice(&[T::default()])?);
        }
        Ok(DeviceBuffer::from_slice(data)?)
    }
    fn zeros<T: Elem>(&self, n: usize) -> GpuResult<DeviceBuffer<T>> {
        // Cleared on the device (a memset), not uploaded: scratch buffers are large.
        let n = n.max(1);
        // SAFETY: the buffer is cleared below before anything can read it; every `Elem` is
        // valid as all-zero bytes.
        let buf = unsafe { DeviceBuffer::<T>::uninitialized(n)? };
        let bytes = n * std::mem::size_of::<T>();
        // SAFETY: the pointer and length describe the allocation just made.
        let r = unsafe { cust::sys::cuMemsetD8_v2(buf.as_device_ptr().as_raw(), 0, bytes) };
        if r != cust::sys::CUresult::CUDA_SUCCESS {
            return Err(fail(format!("CUDA: clearing {bytes} bytes: {r:?}")));
        }
        Ok(buf)
    }
    fn download<T: Elem>(&self, buf: &DeviceBuffer<T>) -> GpuResult<Vec<T>> {
        self.stream.synchronize()?;
        let mut v = vec![T::default(); buf.len()];
        buf.copy_to(&mut v[..])?;
        Ok(v)
    }
    fn len<T: Elem>(buf: &DeviceBuffer<T>) -> usize {
        buf.len()
    }
    fn synchronize(&self) -> GpuResult<()> {
        Ok(self.stream.synchronize()?)
    }
    fn describe(&self) -> String {
        format!("GPU {}", self.name)
    }
    fn bind_thread(&self) -> GpuResult<()> {
        Ok(CurrentContext::set_current(&self._context)?)
    }

    fn rans_push(
        &self,
        s: RansShape,
        start: &DeviceBuffer<u32>,
        freq: &DeviceBuffer<u32>,
        heads: &mut DeviceBuffer<u64>,
        tail: &mut DeviceBuffer<u32>,
        tail_len: &mut DeviceBuffer<u32>,
        status: &mut DeviceBuffer<u32>,
    ) -> GpuResult<()> {
        s.check()?;
        at_least("start", start.len(), s.n * s.count)?;
        at_least("freq", freq.len(), s.n * s.count)?;
        want("heads", heads.len(), s.n)?;
        at_least("tail", tail.len(), s.n * s.cap)?;
        want("tail_len", tail_len.len(), s.n)?;
        want("status", status.len(), s.n)?;
        let (module, stream) = (&self.module, &self.stream);
        // SAFETY: buffer lengths checked against the shape; the kernel writes tail words below
        // `cap` only (intervals are checked where they are made, see gpu::rans).
        unsafe {
            launch!(module.rans_push<<<grid(s.n)?, BLOCK, 0, stream>>>(
                s.n as u32, s.count as u32, s.precision, start.as_device_ptr(),
                freq.as_device_ptr(), heads.as_device_ptr(), tail.as_device_ptr(),
                tail_len.as_device_ptr(), s.cap as u32, status.as_device_ptr()
            ))?;
        }
        Ok(())
    }

    fn rans_pop(
        &self,
        s: RansShape,
        start: &DeviceBuffer<u32>,
        freq: &DeviceBuffer<u32>,
        heads: &mut DeviceBuffer<u64>,
        tail: &DeviceBuffer<u32>,
        tail_len: &mut DeviceBuffer<u32>,
        borrowed: &mut DeviceBuffer<u64>,
    ) -> GpuResult<()> {
        s.check()?;
        at_least("start", start.len(), s.n * s.count)?;
        at_least("freq", freq.len(), s.n * s.count)?;
        want("heads", heads.len(), s.n)?;
        at_least("tail", tail.len(), s.n * s.cap)?;
        want("tail_len", tail_len.len(), s.n)?;
        want("borrowed", borrowed.len(), s.n)?;
        let (module, stream) = (&self.module, &self.stream);
        // SAFETY: lengths checked; tail reads stay below each stream's tail length.
        unsafe {
            launch!(module.rans_pop<<<grid(s.n)?, BLOCK, 0, stream>>>(
                s.n as u32, s.count as u32, s.precision, start.as_device_ptr(),
                freq.as_device_ptr(), heads.as_device_ptr(), tail.as_device_ptr(),
                tail_len.as_device_ptr(), borrowed.as_device_ptr()
            ))?;
        }
        Ok(())
    }

    fn rans_pop_cdf(
        &self,
        s: RansShape,
        cdf: &DeviceBuffer<u32>,
        sym: &mut DeviceBuffer<u32>,
        heads: &mut DeviceBuffer<u64>,
        tail: &DeviceBuffer<u32>,
        tail_len: &mut DeviceBuffer<u32>,
        borrowed: &mut DeviceBuffer<u64>,
    ) -> GpuResult<()> {
        s.check()?;
        want("cdf", cdf.len(), s.nsym + 1)?;
        check_cdf(&self.download(cdf)?, s.precision)?;
        at_least("sym", sym.len(), s.n * s.count)?;
        want("heads", heads.len(), s.n)?;
        at_least("tail", tail.len(), s.n * s.cap)?;
        want("tail_len", tail_len.len(), s.n)?;
        want("borrowed", borrowed.len(), s.n)?;
        let (module, stream) = (&self.module, &self.stream);
        // SAFETY: lengths checked; a valid CDF keeps the search inside 0..nsym.
        unsafe {
            launch!(module.rans_pop_cdf<<<grid(s.n)?, BLOCK, 0, stream>>>(
                s.n as u32, s.count as u32, s.precision, cdf.as_device_ptr(), s.nsym as u32,
                sym.as_device_ptr(), heads.as_device_ptr(), tail.as_device_ptr(),
                tail_len.as_device_ptr(), borrowed.as_device_ptr()
            ))?;
        }
        Ok(())
    }

    fn conv3x3(
        &self,
        c: ConvShape,
        w: &DeviceBuffer<f32>,
        bias: &DeviceBuffer<f32>,
        input: &DeviceBuffer<f32>,
        out: &mut DeviceBuffer<f32>,
        accumulate: bool,
    ) -> GpuResult<()> {
        c.check()?;
        want("weights", w.len(), 9 * c.cin * c.cout)?;
        want("bias", bias.len(), c.cout)?;
        at_least("input", input.len(), c.in_len())?;
        at_least("output", out.len(), c.out_len())?;
        let (module, stream) = (&self.module, &self.stream);
        // SAFETY: lengths checked against the shape.
        unsafe {
            launch!(module.conv3x3<<<grid(c.out_len())?, BLOCK, 0, stream>>>(
                c.nb as u32, c.g as u32, c.cin as u32, c.cout as u32, w.as_device_ptr(),
                bias.as_device_ptr(), input.as_device_ptr(), out.as_device_ptr(),
                accumulate as u32
            ))?;
        }
        Ok(())
    }

    fn elu(&self, src: &DeviceBuffer<f32>, dst: &mut DeviceBuffer<f32>) -> GpuResult<()> {
        want("elu output", dst.len(), src.len())?;
        let (module, stream) = (&self.module, &self.stream);
        // SAFETY: equal lengths.
        unsafe {
            launch!(module.elu<<<grid(src.len())?, BLOCK, 0, stream>>>(
                src.len() as u64, src.as_device_ptr(), dst.as_device_ptr()
            ))?;
        }
        Ok(())
    }

    fn logistic_params(
        &self,
        cout: usize,
        min_ls: f32,
        raw: &DeviceBuffer<f32>,
        mu: &mut DeviceBuffer<f32>,
        ls: &mut DeviceBuffer<f32>,
        inv_s: &mut DeviceBuffer<f32>,
    ) -> GpuResult<()> {
        if cout == 0 || cout > u32::MAX as usize || raw.len() % (2 * cout) != 0 {
            return Err(fail("logistic_params: bad shape".into()));
        }
        let n = raw.len() / (2 * cout);
        want("mu", mu.len(), n * cout)?;
        want("ls", ls.len(), n * cout)?;
        want("inv_s", inv_s.len(), n * cout)?;
        let (module, stream) = (&self.module, &self.stream);
        // SAFETY: lengths checked.
        unsafe {
            launch!(module.logistic_params<<<grid(n * cout)?, BLOCK, 0, stream>>>(
                n as u64, cout as u32, min_ls, raw.as_device_ptr(), mu.as_device_ptr(),
                ls.as_device_ptr(), inv_s.as_device_ptr()
            ))?;
        }
        Ok(())
    }

    fn squeeze_pixels(
        &self,
        p: usize,
        c: usize,
        pixels: &DeviceBuffer<u8>,
        out: &mut DeviceBuffer<f32>,
    ) -> GpuResult<()> {
        if p == 0 || p % 2 != 0 || c == 0 || pixels.len() % (p * p * c) != 0 {
            return Err(fail("squeeze_pixels: bad shape".into()));
        }
        want("squeezed", out.len(), pixels.len())?;
        let (module, stream) = (&self.module, &self.stream);
        // SAFETY: lengths checked.
        unsafe {
            launch!(module.squeeze_pixels<<<grid(pixels.len())?, BLOCK, 0, stream>>>(
                pixels.len() as u64, p as u32, c as u32, pixels.as_device_ptr(),
                out.as_device_ptr()
            ))?;
        }
        Ok(())
    }

    fn logistic_cdf(
        &self,
        edges: &DeviceBuffer<f32>,
        table: &DeviceBuffer<u32>,
        mu: &DeviceBuffer<f32>,
        inv_s: &DeviceBuffer<f32>,
        precision: u32,
        out: &mut DeviceBuffer<u32>,
    ) -> GpuResult<()> {
        let nbins = edges.len() + 1;
        check_cdf_shape(nbins, precision, table.len(), mu.len(), inv_s.len())?;
        want("cdf output", out.len(), mu.len() * (nbins + 1))?;
        let (module, stream) = (&self.module, &self.stream);
        // SAFETY: lengths checked.
        unsafe {
            launch!(module.logistic_cdf<<<grid(out.len())?, BLOCK, 0, stream>>>(
                mu.len() as u64, nbins as u32, edges.as_device_ptr(), table.as_device_ptr(),
                mu.as_device_ptr(), inv_s.as_device_ptr(), precision, out.as_device_ptr()
            ))?;
        }
        Ok(())
    }
}

/// Device buffers may carry one spare element (see `upload`), so some checks are lower bounds.
fn at_least(what: &str, got: usize, need: usize) -> GpuResult<()> {
    if got >= need {
        Ok(())
    } else {
        Err(fail(format!(
            "{what}: {got} elements, the shape needs {need}"
        )))
    }
}
