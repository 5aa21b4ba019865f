// The translation unit that cuda/build-ptx.py compiles into bsar.ptx.
#include "rans.cu"
#include "engine.cu"
