//! x86-64 versions of the block pass.

pub mod avx2;
pub mod avx512;
