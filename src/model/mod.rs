//! Deterministic inference engine for Bit-Swap models (see spec/model.md).
