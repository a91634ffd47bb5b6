//! criterion benches of the kernel alone (no I/O): by size from L1 to RAM, by
//! null density, by instruction set, by data shape, the moments (variance)
//! against the mean, Float64's mean and variance, and by thread count,
//! with the read-bandwidth ceiling beside the thread-count, wide and
//! Float64 groups.
//!
//! `cargo bench --bench kernel`; `make bench` runs these and the comparison
//! with peers (benches/compare.py).

use std::hint::black_box;
use std::time::Duration;

use arrow_buffer::{BooleanBuffer, NullBuffer};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use mapmean::engine::state_of_parts;
use mapmean::kernel::arch::Isa;
use mapmean::kernel::{blocks, Validity};
use mapmean::{MeanState, MomentsState};

/// A small deterministic generator (xorshift), so no extra dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }
}

#[derive(Clone, Copy, Debug)]
enum Shape {
    Uniform,
    Offset,
    WideRange,
    Cancellation,
    /// Magnitudes log-uniform in 1e-30..1e30, random signs.
    Wide30,
    /// Magnitudes log-uniform in 1e-10..1e10, random signs.
    Wide10,
    /// Random bit patterns with a finite exponent: every exponent, both
    /// signs, subnormals included (1 in 255).
    AllExponents,
    /// `Wide30` with one value in ten a random subnormal.
    WideSubnormals,
}

/// `10^u`, `u` uniform in `[-decades, decades)`, with a random sign.
fn log_uniform(rng: &mut Rng, decades: f32) -> f32 {
    let x = 10f32.powf((rng.unit() * 2.0 - 1.0) * decades);
    if rng.next() & 1 == 0 {
        x
    } else {
        -x
    }
}

fn values(n: usize, shape: Shape) -> Vec<f32> {
    let mut rng = Rng(0x9e3779b97f4a7c15);
    (0..n)
        .map(|i| match shape {
            Shape::Uniform => rng.unit(),
            Shape::Offset => 1e4 + (rng.unit() - 0.5),
            // log-uniform magnitudes over 1e-38..1e38, random signs
            Shape::WideRange => {
                let x = 10f32.powf(rng.unit() * 76.0 - 38.0);
                if rng.next() & 1 == 0 {
                    x
                } else {
                    -x
                }
            }
            Shape::Cancellation => [3e37, 0.75, -3e37][i % 3],
            Shape::Wide30 => log_uniform(&mut rng, 30.0),
            Shape::Wide10 => log_uniform(&mut rng, 10.0),
            Shape::AllExponents => {
                let bits = rng.next() as u32;
                let exponent = (bits >> 23 & 0xff) % 255;
                f32::from_bits(bits & 0x807f_ffff | exponent << 23)
            }
            Shape::WideSubnormals => {
                if rng.next().is_multiple_of(10) {
                    f32::from_bits(rng.next() as u32 & 0x807f_ffff)
                } else {
                    log_uniform(&mut rng, 30.0)
                }
            }
        })
        .collect()
}

fn validity(n: usize, null_fraction: f32) -> NullBuffer {
    let mut rng = Rng(42);
    NullBuffer::new(BooleanBuffer::from_iter(
        (0..n).map(|_| rng.unit() >= null_fraction),
    ))
}

fn run(isa: Isa, values: &[f32], nulls: Option<&NullBuffer>) -> MeanState {
    let mut state = MeanState::default();
    blocks::update_with(isa, &mut state, values, nulls.map(Validity::from_nulls));
    state
}

fn by_size(c: &mut Criterion) {
    let mut group = c.benchmark_group("size");
    for log2 in [10, 13, 16, 20, 24, 26] {
        let n = 1usize << log2;
        let v = values(n, Shape::Uniform);
        group.throughput(Throughput::Bytes(4 * n as u64));
        group.bench_with_input(
            BenchmarkId::new("1 thread", format!("2^{log2}")),
            &v,
            |b, v| b.iter(|| black_box(run(Isa::detect(), v, None))),
        );
    }
    group.finish();
}

fn by_nulls(c: &mut Criterion) {
    let n = 1 << 22;
    let v = values(n, Shape::Uniform);
    let mut group = c.benchmark_group("nulls");
    group.throughput(Throughput::Bytes(4 * n as u64));
    for fraction in [0.0, 0.1, 0.5] {
        let nulls = validity(n, fraction);
        group.bench_function(format!("{:.0}% null", fraction * 100.0), |b| {
            b.iter(|| black_box(run(Isa::detect(), &v, Some(&nulls))))
        });
    }
    group.finish();
}

fn by_isa(c: &mut Criterion) {
    let n = 1 << 20;
    let v = values(n, Shape::Uniform);
    let nulls = validity(n, 0.1);
    let mut group = c.benchmark_group("isa");
    group.throughput(Throughput::Bytes(4 * n as u64));
    for &isa in Isa::supported() {
        group.bench_function(format!("{isa:?} no nulls"), |b| {
            b.iter(|| black_box(run(isa, &v, None)))
        });
        group.bench_function(format!("{isa:?} 10% null"), |b| {
            b.iter(|| black_box(run(isa, &v, Some(&nulls))))
        });
    }
    group.finish();
}

fn by_shape(c: &mut Criterion) {
    let n = 1 << 22;
    let mut group = c.benchmark_group("shape");
    group.throughput(Throughput::Bytes(4 * n as u64));
    for shape in [
        Shape::Uniform,
        Shape::Offset,
        Shape::WideRange,
        Shape::Cancellation,
    ] {
        let v = values(n, shape);
        group.bench_function(format!("{shape:?}"), |b| {
            b.iter(|| black_box(run(Isa::detect(), &v, None)))
        });
    }
    group.finish();
}

/// The moments (sum of squares beside the sum) against the mean alone, by
/// data shape, one thread: what `variance` costs over `mean`.
fn moments(c: &mut Criterion) {
    let n = 1 << 22;
    let mut group = c.benchmark_group("moments");
    group.throughput(Throughput::Bytes(4 * n as u64));
    let nulls = validity(n, 0.1);
    for shape in [Shape::Uniform, Shape::Offset, Shape::WideRange] {
        let v = values(n, shape);
        group.bench_function(format!("{shape:?} mean"), |b| {
            b.iter(|| black_box(run(Isa::detect(), &v, None)))
        });
        group.bench_function(format!("{shape:?} moments"), |b| {
            b.iter(|| {
                let mut state = MomentsState::default();
                let fits = state.update_values(&v, None);
                black_box((state, fits))
            })
        });
    }
    let v = values(n, Shape::Offset);
    group.bench_function("Offset moments 10% null", |b| {
        b.iter(|| {
            let mut state = MomentsState::default();
            let fits = state.update_values(&v, Some(Validity::from_nulls(&nulls)));
            black_box((state, fits))
        })
    });
    group.finish();
}

/// Wide-range data on every instruction set, 1 thread, with the read
/// ceiling over the same bytes (`MAPMEAN_BENCH_WIDE_LOG2N`, default 24).
fn by_wide_shape(c: &mut Criterion) {
    let log2n = std::env::var("MAPMEAN_BENCH_WIDE_LOG2N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(24);
    let n = 1usize << log2n;
    let mut group = c.benchmark_group("wide");
    group.throughput(Throughput::Bytes(4 * n as u64));
    let uniform = values(n, Shape::Uniform);
    let bytes: Vec<u8> = uniform.iter().flat_map(|x| x.to_le_bytes()).collect();
    group.bench_function("ceiling 1 thread", |b| {
        b.iter(|| black_box(mapmean::ceiling::sum_words(&bytes, Some(1)).unwrap()))
    });
    drop(bytes);
    for shape in [
        Shape::Uniform,
        Shape::Wide30,
        Shape::Wide10,
        Shape::WideRange,
        Shape::AllExponents,
        Shape::WideSubnormals,
        Shape::Cancellation,
    ] {
        let v = values(n, shape);
        let nulls = validity(n, 0.1);
        for &isa in Isa::supported() {
            group.bench_function(format!("{shape:?} {isa:?}"), |b| {
                b.iter(|| black_box(run(isa, &v, None)))
            });
        }
        if matches!(shape, Shape::Wide30) {
            group.bench_function(format!("{shape:?} 10% null default"), |b| {
                b.iter(|| black_box(run(Isa::detect(), &v, Some(&nulls))))
            });
        }
    }
    group.finish();
}

/// Float64 through `ExactState`, 1 thread, mean (sum alone) and variance
/// (sum and squares) of U[0,1), `1e3 + noise` and 600 decades with random
/// signs, with the read ceiling over the same bytes
/// (`MAPMEAN_BENCH_F64_LOG2N`, default 23: 64 MiB).
fn float64(c: &mut Criterion) {
    use arrow_schema::DataType;
    use mapmean::kernel::{ExactState, Parts};
    let log2n = std::env::var("MAPMEAN_BENCH_F64_LOG2N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(23);
    let n = 1usize << log2n;
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut unit = || (rng.next() >> 11) as f64 / (1u64 << 53) as f64;
    let uniform: Vec<f64> = (0..n).map(|_| unit()).collect();
    let offset: Vec<f64> = (0..n)
        .map(|_| 1e3 + 10.0 * (unit() + unit() + unit() - 1.5))
        .collect();
    let wide: Vec<f64> = (0..n)
        .map(|_| {
            let x = 10f64.powf(unit() * 600.0 - 300.0);
            if unit() < 0.5 {
                -x
            } else {
                x
            }
        })
        .collect();
    let mut group = c.benchmark_group("float64");
    group.throughput(Throughput::Bytes(8 * n as u64));
    let bytes: Vec<u8> = uniform.iter().flat_map(|x| x.to_le_bytes()).collect();
    group.bench_function("ceiling 1 thread", |b| {
        b.iter(|| black_box(mapmean::ceiling::sum_words(&bytes, Some(1)).unwrap()))
    });
    drop(bytes);
    for (name, v) in [("uniform", &uniform), ("offset", &offset), ("wide", &wide)] {
        for (statistic, parts) in [
            ("mean", Parts::default()),
            (
                "variance",
                Parts {
                    squares: true,
                    extremes: false,
                },
            ),
        ] {
            group.bench_function(format!("{name} {statistic}"), |b| {
                b.iter(|| {
                    let mut state = ExactState::new(&DataType::Float64, parts).unwrap();
                    state.update_values(v.as_slice(), None).unwrap();
                    black_box(state)
                })
            });
        }
    }
    group.finish();
}

fn by_threads(c: &mut Criterion) {
    let n = 1 << 26;
    let v = values(n, Shape::Uniform);
    let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    let mut group = c.benchmark_group("threads");
    group.throughput(Throughput::Bytes(4 * n as u64));
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut counts = vec![1, 2, cores];
    counts.dedup();
    for threads in counts {
        group.bench_function(format!("mean {threads} threads"), |b| {
            b.iter(|| black_box(state_of_parts(&[(&v, None)], Some(threads)).unwrap()))
        });
        group.bench_function(format!("ceiling {threads} threads"), |b| {
            b.iter(|| black_box(mapmean::ceiling::sum_words(&bytes, Some(threads)).unwrap()))
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = by_size, by_nulls, by_isa, by_shape, by_wide_shape, moments, float64, by_threads
}
criterion_main!(benches);
