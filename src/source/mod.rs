//! Sources: where the bytes come from, exposed as Arrow [`Buffer`]s that own
//! their mapping, so decoded arrays can point straight into it.
//!
//! [`MappedFile`] maps a file. Every source hands the same kind of buffer to
//! [`crate::ipc`], so all of them share one decode path.
//!
//! [`Buffer`]: arrow_buffer::Buffer

pub mod mmap;

pub use mmap::MappedFile;
