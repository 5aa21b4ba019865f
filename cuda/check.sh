#!/usr/bin/env bash
# The GPU check (issue #6): one command, on a machine with an NVIDIA GPU, that builds nothing.
# It runs the binaries staged by cuda/stage.sh (carry target/gpu-check/ to the machine):
#   1. the GPU tests: rANS streams and every model net on the device, bit for bit against the
#      CPU coder and engine (they FAIL here if no device is found: BSAR_REQUIRE_GPU=1);
#   2. the rANS benchmark: symbols/s, GPU against one CPU core, on the same symbols;
#   3. the engine benchmark: patches/s of the default model's nets, GPU against all CPU cores.
#
#   bash cuda/check.sh            # from the repository root; about 1 to 2 minutes on an H200
#
# The driver library is looked up on LD_LIBRARY_PATH; /usr/local/nvidia/lib64 is added first.
set -uo pipefail
cd "$(dirname "$0")/.."
bin=target/gpu-check
if [ ! -x "$bin/gpu-tests" ]; then
    echo "check.sh: $bin/gpu-tests missing: run bash cuda/stage.sh on the build machine and carry $bin" >&2
    exit 2
fi
export LD_LIBRARY_PATH=/usr/local/nvidia/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
cat "$bin/STAGED"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo "(no nvidia-smi)"
status=0
step() {
    local name=$1
    shift
    echo
    echo "== $name"
    local t0=$SECONDS
    if "$@"; then
        echo "== $name: ok ($((SECONDS - t0)) s)"
    else
        echo "== $name: FAILED ($((SECONDS - t0)) s)"
        status=1
    fi
}
step "GPU tests" env BSAR_REQUIRE_GPU=1 timeout 240 "$bin/gpu-tests" --test-threads=1 --nocapture
step "rANS benchmark" timeout 120 "$bin/bench_gpu_rans"
step "engine benchmark (rgb-fast)" timeout 120 "$bin/bench_gpu_engine" rgb-fast 4096
echo
if [ $status = 0 ]; then echo "GPU check passed"; else echo "GPU check FAILED"; fi
exit $status
