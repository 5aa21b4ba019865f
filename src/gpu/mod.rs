//! GPU-parallel coding through the CUDA driver API (`cust`), behind the `cuda` feature.
//!
//! The kernels live in `kernels/` as CUDA C that also compiles as host C++:
//! - on a GPU they run from `kernels/bsar.ptx` (made by `cuda/build-ptx.py`, checked in);
//! - on any machine, build.rs compiles them into the "host emulation" ([`HostKernels`]), so the
//!   tests check the kernels' arithmetic against the Rust engine and `ans::Stack` bit for bit
//!   without a GPU.
//!
//! Both run behind one [`Kernels`] trait, and everything above it ([`rans`], [`engine`]) is
//! written once for both: what the host emulation tests is what the GPU runs.
//!
//! No GPU, no driver: [`probe`] says why in one line and the caller stays on the CPU.

mod device;
pub mod engine;
mod host;
mod kernels;
pub mod rans;

pub use device::{probe, Gpu};
pub use host::HostKernels;
pub use kernels::{GpuError, GpuResult, Kernels};

/// The kernels as PTX (compute_90), generated from `kernels/*.cu` by `cuda/build-ptx.py`.
pub const PTX: &str = include_str!("kernels/bsar.ptx");

#[cfg(test)]
mod tests;
