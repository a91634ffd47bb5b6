//! aarch64 versions of the block pass.

pub mod neon;
