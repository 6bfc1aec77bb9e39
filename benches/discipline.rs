//! Cost of the clock discipline (src/discipline): `Steering::sample` with
//! one source (steering, a full register of 16 samples), `Tracker::measure`
//! (measure only, 64), the steady state of a long-running client, a step
//! vote, and one sample's selection and correction among 3 and 1000 sources.
//! Run with `cargo bench --bench discipline`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use prossntp::discipline::{Decision, SourceId, Steering, Tracker, MAX_POINTS, MEASURE_POINTS};
use prossntp::proto::timestamp::{NtpDuration, NtpTimestamp};
use prossntp::proto::validate::Sample;

/// A sample with offset `offset_us` and delay `delay_us`.
fn sample(offset_us: i64, delay_us: i64) -> Sample {
    Sample {
        offset: NtpDuration::from_nanos(offset_us * 1000),
        delay: NtpDuration::from_nanos(delay_us * 1000),
        stratum: 2,
        leap: 0,
        reference_id: *b"GPS\0",
        root_delay: NtpDuration::from_nanos(1_000_000),
        root_dispersion: NtpDuration::from_nanos(2_000_000),
        t4: NtpTimestamp::from_unix(1_800_000_000, 0),
    }
}

/// Offsets and delays that wander a little, as a quiet LAN gives them.
fn noisy(i: u64) -> Sample {
    let x = i.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 40;
    sample((x % 200) as i64 - 100, 200 + (x % 50) as i64)
}

/// `n` steering sources whose registers are full, samples 64 s apart (each
/// source's at its own moment within the poll), and the sample count.
fn warmed_steering(n: u32) -> (Steering, Vec<SourceId>, u64) {
    let mut d = Steering::new(0.0);
    let ids: Vec<_> = (0..n).map(|_| d.add_source()).collect();
    let mut i = 0;
    while i < MAX_POINTS as u64 + 4 {
        for (k, &id) in ids.iter().enumerate() {
            let now = Duration::from_secs(64 * i) + Duration::from_millis(k as u64 * 60);
            if let Decision::Apply(..) = d.sample(id, now, &noisy(i * 1000 + k as u64), NtpDuration::ZERO) {
                d.confirm();
            }
        }
        i += 1;
    }
    (d, ids, i)
}

/// A measuring tracker whose register is full, samples 64 s apart.
fn warmed_tracker() -> (Tracker, u64) {
    let mut d = Tracker::new();
    let mut i = 0;
    while i < MEASURE_POINTS as u64 + 4 {
        d.measure(Duration::from_secs(64 * i), &noisy(i));
        i += 1;
    }
    (d, i)
}

fn benches(c: &mut Criterion) {
    let mut g = c.benchmark_group("discipline");
    g.bench_function("decide (slew, full register)", |b| {
        let (mut d, ids, mut i) = warmed_steering(1);
        b.iter(|| {
            i += 1;
            let r = d.sample(ids[0], Duration::from_secs(64 * i), black_box(&noisy(i)), NtpDuration::ZERO);
            debug_assert!(matches!(r, Decision::Apply(..)));
            r
        })
    });
    for n in [3, 1000] {
        g.bench_function(format!("decide among {n} sources (selection, combining, slew)"), |b| {
            let (mut d, ids, mut i) = warmed_steering(n);
            let mut k = 0;
            b.iter(|| {
                k = (k + 1) % ids.len();
                if k == 0 {
                    i += 1;
                }
                let now = Duration::from_secs(64 * i) + Duration::from_millis(k as u64 * 60);
                d.sample(ids[k], now, black_box(&noisy(i * 1000 + k as u64)), NtpDuration::ZERO)
            })
        });
    }
    g.bench_function("measure (full register)", |b| {
        let (mut d, mut i) = warmed_tracker();
        b.iter(|| {
            i += 1;
            d.measure(Duration::from_secs(64 * i), black_box(&noisy(i)));
        })
    });
    g.bench_function("decide x3 (step vote: hold, hold, step)", |b| {
        let (d, ids, i) = warmed_steering(1);
        b.iter_batched_ref(
            || d.clone(),
            |d| {
                let mut r = Decision::Hold;
                for k in 1..=3 {
                    r = d.sample(ids[0], Duration::from_secs(64 * (i + k)), &sample(500_000, 200), NtpDuration::ZERO);
                }
                r
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50)
        .configure_from_args()
}

criterion_group! { name = group; config = config(); targets = benches }
criterion_main!(group);
