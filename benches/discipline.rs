//! Cost of the clock discipline (src/discipline): `Discipline::decide`
//! (steering, a full register of 16 samples) and `Discipline::measure`
//! (measure only, 64), the steady state of a long-running client, and a
//! step vote.
//! Run with `cargo bench --bench discipline`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use prossntp::discipline::{Decision, Discipline, MAX_POINTS, MEASURE_POINTS};
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

/// A discipline whose register is full, samples 64 s apart (steering or not).
fn warmed(steering: bool) -> (Discipline, u64) {
    let mut d = Discipline::new(0.0);
    let mut i = 0;
    let full = if steering { MAX_POINTS } else { MEASURE_POINTS };
    while i < full as u64 + 4 {
        let now = Duration::from_secs(64 * i);
        if steering {
            let _ = d.decide(now, &noisy(i), NtpDuration::ZERO);
        } else {
            d.measure(now, &noisy(i));
        }
        i += 1;
    }
    (d, i)
}

fn benches(c: &mut Criterion) {
    let mut g = c.benchmark_group("discipline");
    g.bench_function("decide (slew, full register)", |b| {
        let (mut d, mut i) = warmed(true);
        b.iter(|| {
            i += 1;
            let r = d.decide(Duration::from_secs(64 * i), black_box(&noisy(i)), NtpDuration::ZERO);
            debug_assert!(matches!(r, Decision::Apply(..)));
            r
        })
    });
    g.bench_function("measure (full register)", |b| {
        let (mut d, mut i) = warmed(false);
        b.iter(|| {
            i += 1;
            d.measure(Duration::from_secs(64 * i), black_box(&noisy(i)));
        })
    });
    g.bench_function("decide x3 (step vote: hold, hold, step)", |b| {
        let (d, i) = warmed(true);
        b.iter_batched_ref(
            || d.clone(),
            |d| {
                let mut r = Decision::Hold;
                for k in 1..=3 {
                    r = d.decide(Duration::from_secs(64 * (i + k)), &sample(500_000, 200), NtpDuration::ZERO);
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
