//! rANS stack coder (see spec/ans.md).
