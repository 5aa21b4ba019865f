// Host emulation: the same kernels compiled as C++ by build.rs (see portable.h).
#include "all.cu"
