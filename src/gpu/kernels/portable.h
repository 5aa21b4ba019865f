// One source for two compilers. The kernels of this folder compile
// - as CUDA C with NVRTC into bsar.ptx (cuda/build-ptx.py; __CUDACC_RTC__ is defined), and
// - as host C++ with g++ (build.rs, `-ffp-contract=off -fno-fast-math`): the "host
//   emulation" that tests compare with the Rust engine bit for bit on machines without a GPU.
// Each kernel is a function `name_one(i, ...)` computing work item `i`; KERNEL_1D wraps it as a
// CUDA kernel (one thread per item) or as a host loop `bsar_host_name(...)` over the items.
//
// Arithmetic (spec/model.md 4.1): every f32 operation that feeds a frequency table is written
// with an explicit helper, so that neither compiler contracts a multiply and an add (fmad=false
// on the GPU, -ffp-contract=off on the host, and the intrinsics below on the GPU regardless).
#pragma once

#if defined(__CUDACC_RTC__) || defined(__CUDACC__)
#define BSAR_GPU 1
typedef unsigned int u32;
typedef int i32;
typedef unsigned long long u64;
typedef unsigned short u16;
#define BSAR_FN static __device__ __forceinline__
BSAR_FN float fma_rn(float a, float b, float c) { return __fmaf_rn(a, b, c); }
BSAR_FN float add_rn(float a, float b) { return __fadd_rn(a, b); }
BSAR_FN float sub_rn(float a, float b) { return __fsub_rn(a, b); }
BSAR_FN float mul_rn(float a, float b) { return __fmul_rn(a, b); }
BSAR_FN float div_rn(float a, float b) { return __fdiv_rn(a, b); }
// Round to an integral value, ties to even (PTX cvt.rni).
BSAR_FN float round_even(float x) { return rintf(x); }
BSAR_FN float f32_from_bits(u32 b) { return __uint_as_float(b); }
#define KERNEL_1D(name, count, PARAMS, ARGS)                                  \
    extern "C" __global__ void name PARAMS {                                  \
        u64 i = (u64)blockIdx.x * blockDim.x + threadIdx.x;                   \
        if (i < (u64)(count)) name##_one ARGS;                                \
    }
#else
#include <math.h>
#include <stdint.h>
#include <string.h>
typedef uint32_t u32;
typedef int32_t i32;
typedef uint64_t u64;
typedef uint16_t u16;
#define BSAR_FN static inline
BSAR_FN float fma_rn(float a, float b, float c) { return fmaf(a, b, c); }
BSAR_FN float add_rn(float a, float b) { return a + b; }
BSAR_FN float sub_rn(float a, float b) { return a - b; }
BSAR_FN float mul_rn(float a, float b) { return a * b; }
BSAR_FN float div_rn(float a, float b) { return a / b; }
// rintf rounds in the current mode, which is round-to-nearest-even (never changed by bsar).
BSAR_FN float round_even(float x) { return rintf(x); }
BSAR_FN float f32_from_bits(u32 b) {
    float f;
    memcpy(&f, &b, 4);
    return f;
}
#define KERNEL_1D(name, count, PARAMS, ARGS)                                  \
    extern "C" void bsar_host_##name PARAMS {                                 \
        for (u64 i = 0; i < (u64)(count); i++) name##_one ARGS;               \
    }
#endif
