//! The read-bandwidth ceiling: the fastest useful pass over the same bytes.
//!
//! Benchmarks compare the mean against a plain vectorised wrapping sum of the
//! bytes as `u64` words, over the same mapping and on the same threads: no
//! kernel that reads every byte once can beat it by much, so
//! `mean GB/s / ceiling GB/s` says how close the mean runs to the memory
//! system.

use rayon::prelude::*;

use crate::engine::with_threads;
use crate::error::Result;

/// Wrapping sum of `bytes` read as native `u64` words (bytes before the
/// first and after the last aligned word are added one by one), on `threads`
/// threads (`None`: all cores). The value is meaningless; the time it takes
/// is the ceiling.
///
/// # Errors
///
/// [`crate::Error::InvalidArgument`] if `threads` is `Some(0)`.
///
/// # Example
///
/// ```
/// let words = vec![3u64; 1024];
/// let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_ne_bytes()).collect();
/// let sum = mapmean::ceiling::sum_words(&bytes, Some(2))?;
/// assert!(sum == 3 * 1024 || bytes.as_ptr() as usize % 8 != 0);
/// # Ok::<(), mapmean::Error>(())
/// ```
pub fn sum_words(bytes: &[u8], threads: Option<usize>) -> Result<u64> {
    const TASK: usize = 4 << 20;
    with_threads(threads, || {
        bytes
            .par_chunks(TASK)
            .map(sum_chunk)
            .reduce(|| 0, u64::wrapping_add)
    })
}

fn sum_chunk(chunk: &[u8]) -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx512f") {
            // SAFETY: AVX-512 F was detected just above.
            return unsafe { sum_chunk_avx512(chunk) };
        }
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: AVX2 was detected just above.
            return unsafe { sum_chunk_avx2(chunk) };
        }
    }
    sum_chunk_portable(chunk)
}

/// # Safety
///
/// The CPU must support AVX-512F (the caller detects it at run time).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn sum_chunk_avx512(chunk: &[u8]) -> u64 {
    use std::arch::x86_64::*;
    // SAFETY: every bit pattern is a valid u64.
    let (head, words, tail) = unsafe { chunk.align_to::<u64>() };
    let mut lines = words.chunks_exact(32);
    let mut acc = [_mm512_setzero_si512(); 4];
    for line in &mut lines {
        for (k, a) in acc.iter_mut().enumerate() {
            // SAFETY: `line` holds 32 words; lane group `k` reads 8 of them.
            let v = unsafe { _mm512_loadu_si512(line.as_ptr().add(8 * k) as *const _) };
            *a = _mm512_add_epi64(*a, v);
        }
    }
    let total = _mm512_add_epi64(
        _mm512_add_epi64(acc[0], acc[1]),
        _mm512_add_epi64(acc[2], acc[3]),
    );
    let vector = _mm512_reduce_add_epi64(total) as u64;
    finish(vector, head, lines.remainder(), tail)
}

/// # Safety
///
/// The CPU must support AVX2 (the caller detects it at run time).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn sum_chunk_avx2(chunk: &[u8]) -> u64 {
    use std::arch::x86_64::*;
    // SAFETY: every bit pattern is a valid u64.
    let (head, words, tail) = unsafe { chunk.align_to::<u64>() };
    let mut lines = words.chunks_exact(16);
    let mut acc = [_mm256_setzero_si256(); 4];
    for line in &mut lines {
        for (k, a) in acc.iter_mut().enumerate() {
            // SAFETY: `line` holds 16 words; lane group `k` reads 4 of them.
            let v = unsafe { _mm256_loadu_si256(line.as_ptr().add(4 * k) as *const __m256i) };
            *a = _mm256_add_epi64(*a, v);
        }
    }
    let mut lanes = [0u64; 16];
    for (k, a) in acc.iter().enumerate() {
        // SAFETY: `lanes[4k..4k + 4]` holds 4 u64.
        unsafe { _mm256_storeu_si256(lanes.as_mut_ptr().add(4 * k) as *mut __m256i, *a) };
    }
    let vector = lanes.iter().fold(0u64, |a, &w| a.wrapping_add(w));
    finish(vector, head, lines.remainder(), tail)
}

/// Adds the words and bytes a vector loop left over.
fn finish(vector: u64, head: &[u8], words: &[u64], tail: &[u8]) -> u64 {
    let bytes = head.iter().chain(tail).map(|&b| b as u64);
    words
        .iter()
        .copied()
        .chain(bytes)
        .fold(vector, u64::wrapping_add)
}

/// The portable version: a plain fold, vectorised by the compiler as it can.
fn sum_chunk_portable(chunk: &[u8]) -> u64 {
    // SAFETY: every bit pattern is a valid u64.
    let (head, words, tail) = unsafe { chunk.align_to::<u64>() };
    finish(0, head, words, tail)
}

#[cfg(test)]
mod tests {
    use super::sum_words;

    #[test]
    fn aligned_words_sum_exactly() {
        let words: Vec<u64> = (0..100_000u64).map(|i| i * 0x9e37_79b9).collect();
        // SAFETY (test): a u64 slice viewed as its bytes.
        let bytes = unsafe { words.align_to::<u8>().1 };
        let expected = words.iter().fold(0u64, |a, &w| a.wrapping_add(w));
        for threads in [1, 2, 3] {
            assert_eq!(sum_words(bytes, Some(threads)).unwrap(), expected);
        }
    }

    #[test]
    fn every_byte_counts_at_any_alignment() {
        let mut bytes = vec![0u8; 1000];
        for start in 0..9 {
            for position in [start, start + 1, start + 500, 999] {
                bytes[position] = 1;
                assert_ne!(
                    sum_words(&bytes[start..], Some(1)).unwrap(),
                    0,
                    "{start} {position}"
                );
                bytes[position] = 0;
            }
        }
    }
}
