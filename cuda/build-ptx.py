#!/usr/bin/env python3
"""Compiles the CUDA kernels (src/gpu/kernels/*.cu, *.h) into src/gpu/kernels/bsar.ptx.

    python3 cuda/build-ptx.py          # writes bsar.ptx
    python3 cuda/build-ptx.py --check  # exits 1 if bsar.ptx is not the output for the sources

Needs no GPU and no CUDA toolkit: NVRTC from the PyPI wheel `nvidia-cuda-nvrtc` (CUDA 13),
called through ctypes, and nvJitLink from `nvidia-nvjitlink` to check that the PTX assembles for
sm_90 (installed with pip when missing: `pip install nvidia-cuda-nvrtc==13.* nvidia-nvjitlink==13.*`).

Options: compute_90, --fmad=false (no contraction of a multiply and an add; the kernels also use
the __f*_rn intrinsics), no flush-to-zero, IEEE division and square root: spec/model.md 4.1.
The PTX ISA version is pinned to PTX_ISA (NVRTC 13.2 writes 9.2, which a CUDA 13.0 driver may
refuse; the kernels use nothing newer than ISA 8.0).

The first line of bsar.ptx records the SHA-256 of the sources (source_hash below; the Rust test
gpu::kernels_ptx_matches_sources recomputes it), the NVRTC version and the options, so that a
stale PTX is detected without NVRTC.
"""
import ctypes
import glob
import hashlib
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KDIR = os.path.join(ROOT, "src", "gpu", "kernels")
OUT = os.path.join(KDIR, "bsar.ptx")
ARCH = "compute_90"
PTX_ISA = "8.0"
OPTIONS = [
    "--gpu-architecture=" + ARCH,
    "--fmad=false",
    "--ftz=false",
    "--prec-div=true",
    "--prec-sqrt=true",
    "--std=c++17",
]


def source_hash():
    """SHA-256 over every kernel source (*.cu, *.h; not host.cpp), in name order:
    name, a zero byte, contents, a zero byte."""
    h = hashlib.sha256()
    names = sorted(
        os.path.basename(p)
        for p in glob.glob(os.path.join(KDIR, "*"))
        if p.endswith((".cu", ".h"))
    )
    for n in names:
        with open(os.path.join(KDIR, n), "rb") as f:
            h.update(n.encode() + b"\0" + f.read() + b"\0")
    return h.hexdigest()


def find_lib(pattern):
    import importlib.util

    spec = importlib.util.find_spec("nvidia")
    dirs = list(spec.submodule_search_locations) if spec else []
    for d in dirs:
        for cand in glob.glob(os.path.join(d, "**", pattern), recursive=True):
            return cand
    return None


def load_libs():
    nvrtc = find_lib("libnvrtc.so.13")
    jit = find_lib("libnvJitLink.so.13")
    if not nvrtc or not jit:
        import subprocess

        subprocess.check_call(
            [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
             "nvidia-cuda-nvrtc==13.*", "nvidia-nvjitlink==13.*"]
        )
        nvrtc = find_lib("libnvrtc.so.13")
        jit = find_lib("libnvJitLink.so.13")
    return ctypes.CDLL(nvrtc), ctypes.CDLL(jit)


def compile_ptx(nvrtc):
    with open(os.path.join(KDIR, "all.cu"), "rb") as f:
        src = f.read()
    prog = ctypes.c_void_p()
    check(nvrtc, nvrtc.nvrtcCreateProgram(ctypes.byref(prog), src, b"all.cu", 0, None, None))
    opts = [o.encode() for o in OPTIONS + ["--include-path=" + KDIR]]
    arr = (ctypes.c_char_p * len(opts))(*opts)
    res = nvrtc.nvrtcCompileProgram(prog, len(opts), arr)
    size = ctypes.c_size_t()
    nvrtc.nvrtcGetProgramLogSize(prog, ctypes.byref(size))
    log = ctypes.create_string_buffer(size.value)
    nvrtc.nvrtcGetProgramLog(prog, log)
    if res != 0:
        sys.exit("NVRTC failed:\n" + log.value.decode(errors="replace"))
    if log.value.strip():
        print(log.value.decode(errors="replace"), file=sys.stderr)
    check(nvrtc, nvrtc.nvrtcGetPTXSize(prog, ctypes.byref(size)))
    buf = ctypes.create_string_buffer(size.value)
    check(nvrtc, nvrtc.nvrtcGetPTX(prog, buf))
    nvrtc.nvrtcDestroyProgram(ctypes.byref(prog))
    return buf.value.decode()


def check(nvrtc, res):
    if res != 0:
        nvrtc.nvrtcGetErrorString.restype = ctypes.c_char_p
        sys.exit("NVRTC error: " + nvrtc.nvrtcGetErrorString(res).decode())


def assemble_check(jit, ptx):
    """nvJitLink assembles the PTX for sm_90: the pinned ISA version is accepted and nothing in
    the kernels needs a newer one."""
    handle = ctypes.c_void_p()
    opts = (ctypes.c_char_p * 1)(b"-arch=sm_90")
    if jit.nvJitLinkCreate(ctypes.byref(handle), 1, opts) != 0:
        sys.exit("nvJitLinkCreate failed")
    data = ptx.encode()
    NVJITLINK_INPUT_PTX = 2
    r1 = jit.nvJitLinkAddData(handle, NVJITLINK_INPUT_PTX, data, len(data), b"bsar.ptx")
    r2 = jit.nvJitLinkComplete(handle) if r1 == 0 else r1
    if r2 != 0:
        size = ctypes.c_size_t()
        jit.nvJitLinkGetErrorLogSize(handle, ctypes.byref(size))
        log = ctypes.create_string_buffer(size.value + 1)
        jit.nvJitLinkGetErrorLog(handle, log)
        sys.exit("nvJitLink rejects the PTX:\n" + log.value.decode(errors="replace"))
    jit.nvJitLinkDestroy(ctypes.byref(handle))


def main():
    nvrtc, jit = load_libs()
    major, minor = ctypes.c_int(), ctypes.c_int()
    nvrtc.nvrtcVersion(ctypes.byref(major), ctypes.byref(minor))
    ptx = compile_ptx(nvrtc)
    ptx, n = re.subn(r"^\.version \d+\.\d+$", ".version " + PTX_ISA, ptx, count=1, flags=re.M)
    if n != 1:
        sys.exit("no .version line in the PTX")
    assemble_check(jit, ptx)
    header = (
        f"// bsar-kernels-sha256: {source_hash()}\n"
        f"// Generated by cuda/build-ptx.py from src/gpu/kernels (NVRTC {major.value}.{minor.value}, "
        f"{' '.join(OPTIONS)}, .version pinned to {PTX_ISA}). Do not edit.\n"
    )
    text = header + ptx
    if "--check" in sys.argv[1:]:
        with open(OUT) as f:
            old = f.read()
        if old != text:
            sys.exit("bsar.ptx is stale: run python3 cuda/build-ptx.py")
        print("bsar.ptx is up to date")
        return
    with open(OUT, "w") as f:
        f.write(text)
    kernels = re.findall(r"^\.visible \.entry (\w+)", ptx, flags=re.M)
    print(f"wrote {os.path.relpath(OUT, ROOT)}: {len(text)} bytes, kernels: {', '.join(kernels)}")


if __name__ == "__main__":
    main()
