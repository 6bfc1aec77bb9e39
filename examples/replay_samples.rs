//! Replays one client's raw samples from an accuracy-benchmark run through
//! the measure-only discipline as it is now, to try a change to it on real
//! data (scripts/bench-accuracy.sh with BENCH_KEEP=DIR keeps them):
//!   cargo run --release --example replay_samples DIR/cond2/samples.csv [CLIENT]
//! CLIENT is prossntp (default), chronyd or ntpdig. Prints each estimate and
//! the median error from 20 s on against the benchmark's +37 ms.
use prossntp::discipline::Tracker;
use prossntp::proto::timestamp::{NtpDuration, NtpTimestamp};
use prossntp::proto::validate::Sample;
use std::time::Duration;
fn main() {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: replay_samples SAMPLES.CSV [prossntp|chronyd|ntpdig]");
        std::process::exit(2);
    };
    let who = std::env::args().nth(2).unwrap_or("prossntp".into());
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        eprintln!("replay_samples: {path}: {e}");
        std::process::exit(1);
    });
    let mut d = Tracker::new();
    let mut errs = vec![];
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        if f[0] != who {
            continue;
        }
        let number = |i: usize| f.get(i).and_then(|x| x.parse::<f64>().ok()).unwrap_or(f64::NAN);
        let (t, so, del) = (number(1), number(3), number(4));
        if so.is_nan() || t.is_nan() || del.is_nan() {
            continue;
        }
        let s = Sample {
            offset: NtpDuration::from_seconds(so),
            delay: NtpDuration::from_seconds(del),
            stratum: 1,
            leap: 0,
            reference_id: [0; 4],
            root_delay: NtpDuration(0),
            root_dispersion: NtpDuration(0),
            t4: NtpTimestamp::from_unix(1_800_000_000, 0),
        };
        d.measure(Duration::from_secs_f64(t), &s);
        if t >= 20.0 {
            errs.push((d.last_offset() - 0.037).abs() * 1e6);
        }
        println!(
            "t={t:6.1} raw={:+7.2} est={:+7.2} asym={:+.3}",
            (so - 0.037) * 1e6,
            (d.last_offset() - 0.037) * 1e6,
            d.asymmetry()
        );
    }
    errs.sort_by(|a, b| a.total_cmp(b));
    match errs.get(errs.len() / 2) {
        Some(m) => println!("median error from 20 s on: {m:.2} us ({} estimates)", errs.len()),
        None => println!("no samples for {who} from 20 s on"),
    }
}
