//! Thread scaling of the exact mean against the read-bandwidth ceiling, on
//! 1 GiB of in-memory float32 values (uniform, 10% nulls, wide range).
//!
//! ```sh
//! cargo run --release --example scaling
//! ```

use std::time::Instant;

use arrow_buffer::{BooleanBuffer, NullBuffer};
use mapmean::engine::state_of_parts;
use mapmean::kernel::Validity;

fn median_seconds(mut f: impl FnMut()) -> f64 {
    f();
    let mut times: Vec<f64> = (0..7)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[3]
}

fn main() -> Result<(), mapmean::Error> {
    let n = 1usize << 28;
    let mut x = 0x9e3779b97f4a7c15u64;
    let mut unit = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x >> 40) as f32 / (1u64 << 24) as f32
    };
    let uniform: Vec<f32> = (0..n).map(|_| unit()).collect();
    let wide: Vec<f32> = (0..n).map(|_| 10f32.powf(unit() * 76.0 - 38.0)).collect();
    let nulls = NullBuffer::new(BooleanBuffer::from_iter((0..n).map(|_| unit() >= 0.1)));
    let bytes: &[u8] = {
        // SAFETY: f32 values viewed as their bytes.
        unsafe { uniform.align_to::<u8>().1 }
    };
    let gbs = |t: f64| 4.0 * n as f64 / t / 1e9;
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    println!("cores={cores}  n=2^28 float32 (1 GiB) in memory; GB/s, median of 7");
    println!("threads  ceiling  uniform  nulls10   wide  (x ceiling: uniform nulls10 wide)");
    let mut threads = 1;
    while threads <= cores {
        let t = Some(threads);
        let ceiling = gbs(median_seconds(|| {
            std::hint::black_box(mapmean::ceiling::sum_words(bytes, t).unwrap());
        }));
        let run = |values: &[f32], validity: Option<Validity<'_>>| {
            gbs(median_seconds(|| {
                std::hint::black_box(state_of_parts(&[(values, validity)], t).unwrap());
            }))
        };
        let (u, m, w) = (
            run(&uniform, None),
            run(&uniform, Some(Validity::from_nulls(&nulls))),
            run(&wide, None),
        );
        println!(
            "{threads:>7}  {ceiling:>7.1}  {u:>7.1}  {m:>7.1}  {w:>5.1}  ({:.2} {:.2} {:.2})",
            u / ceiling,
            m / ceiling,
            w / ceiling
        );
        threads *= 2;
    }
    Ok(())
}
