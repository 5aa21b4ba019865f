//! Build script. Without the `cuda` feature it does nothing. With it, it builds two static
//! libraries with the `cc` crate:
//! - `bsar_cudashim`: the CUDA driver shim (cuda/link/loader.c plus one trampoline per driver
//!   function named in cuda/link/symbols.txt), which cust_raw's `-lcuda` resolves to through the
//!   linker script cuda/link/lib64/libcuda.so. The binary then loads libcuda.so.1 at run time.
//! - `bsar_gpu_host`: the CUDA kernels of src/gpu/kernels compiled as host C++ ("host
//!   emulation"), so that tests check the kernels' arithmetic against the Rust engine bit for bit
//!   on machines without a GPU. No contraction, no fast math: the spec's operations exactly.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    #[cfg(feature = "cuda")]
    cuda::build();
}

#[cfg(feature = "cuda")]
mod cuda {
    use std::fmt::Write as _;
    use std::path::PathBuf;

    pub fn build() {
        let target = std::env::var("TARGET").unwrap_or_default();
        if !(target.starts_with("x86_64-") && target.contains("-linux-gnu")) {
            panic!(
                "the `cuda` feature's driver shim supports x86_64 Linux (glibc) only, not {target}"
            );
        }
        shim();
        host_kernels();
    }

    fn shim() {
        for f in [
            "cuda/link/symbols.txt",
            "cuda/link/loader.c",
            "cuda/link/lib64/libcuda.so",
        ] {
            println!("cargo:rerun-if-changed={f}");
        }
        let list = std::fs::read_to_string("cuda/link/symbols.txt").expect("cuda/link/symbols.txt");
        let names: Vec<&str> = list
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect();
        for n in &names {
            assert!(
                n.starts_with("cu") && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'),
                "symbols.txt: bad name {n:?}"
            );
        }
        let out = PathBuf::from(std::env::var("OUT_DIR").unwrap());

        // The names and the table the trampolines jump through.
        let mut c = String::from("#include <stddef.h>\nconst char *const bsar_cu_names[] = {\n");
        for n in &names {
            writeln!(c, "    \"{n}\",").unwrap();
        }
        writeln!(c, "}};\nconst size_t bsar_cu_count = {};", names.len()).unwrap();
        writeln!(
            c,
            "__attribute__((visibility(\"hidden\"))) void *bsar_cu_table[{}];",
            names.len()
        )
        .unwrap();
        std::fs::write(out.join("cuda_names.c"), c).unwrap();

        // Trampoline i: jump through table[i]; if it is still NULL, resolve it first. The slow
        // path keeps every argument register (integer and xmm0-7: some driver functions take
        // floats) and the stack arguments untouched, so the driver function sees the original
        // call.
        let mut s = String::from(
            "    .text\n\
             \x20   .p2align 4\n\
             \x20   .type bsar_cu_slow, @function\n\
             bsar_cu_slow:\n\
             \x20   pushq %rdi\n    pushq %rsi\n    pushq %rdx\n    pushq %rcx\n\
             \x20   pushq %r8\n    pushq %r9\n    pushq %rax\n    pushq %r11\n\
             \x20   subq $136, %rsp\n",
        );
        for i in 0..8 {
            writeln!(s, "    movdqu %xmm{i}, {}(%rsp)", 16 * i).unwrap();
        }
        s.push_str("    movq %r11, %rdi\n    call bsar_cu_resolve@PLT\n    movq %rax, %r10\n");
        for i in 0..8 {
            writeln!(s, "    movdqu {}(%rsp), %xmm{i}", 16 * i).unwrap();
        }
        s.push_str(
            "    addq $136, %rsp\n\
             \x20   popq %r11\n    popq %rax\n    popq %r9\n    popq %r8\n\
             \x20   popq %rcx\n    popq %rdx\n    popq %rsi\n    popq %rdi\n\
             \x20   jmp *%r10\n\
             \x20   .size bsar_cu_slow, .-bsar_cu_slow\n",
        );
        for (i, n) in names.iter().enumerate() {
            write!(
                s,
                "    .p2align 4\n    .globl {n}\n    .type {n}, @function\n{n}:\n\
                 \x20   movq bsar_cu_table+{off}(%rip), %r11\n    testq %r11, %r11\n    jz 1f\n\
                 \x20   jmp *%r11\n1:  movl ${i}, %r11d\n    jmp bsar_cu_slow\n    .size {n}, .-{n}\n",
                off = 8 * i
            )
            .unwrap();
        }
        s.push_str("    .section .note.GNU-stack,\"\",@progbits\n");
        std::fs::write(out.join("cuda_trampolines.s"), s).unwrap();

        cc::Build::new()
            .file("cuda/link/loader.c")
            .file(out.join("cuda_names.c"))
            .file(out.join("cuda_trampolines.s"))
            .flag_if_supported("-fvisibility=default")
            .cargo_metadata(false)
            .compile("bsar_cudashim");
        // Only the search path: the library is pulled in by cust_raw's `-lcuda` (linker script).
        println!("cargo:rustc-link-search=native={}", out.display());
        println!("cargo:rustc-link-lib=dl");
    }

    fn host_kernels() {
        println!("cargo:rerun-if-changed=src/gpu/kernels");
        cc::Build::new()
            .cpp(true)
            .file("src/gpu/kernels/host.cpp")
            .flag("-std=c++14")
            .flag("-ffp-contract=off")
            .flag("-fno-fast-math")
            .flag("-fno-unsafe-math-optimizations")
            // The item counts are used by the GPU launch guards only.
            .flag("-Wno-unused-parameter")
            .opt_level(2)
            .compile("bsar_gpu_host");
    }
}
