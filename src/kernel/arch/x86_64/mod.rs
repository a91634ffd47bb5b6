//! x86-64 versions of the block passes.

pub mod avx2;
pub mod avx512;
