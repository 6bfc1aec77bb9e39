//! Replays one client's raw samples from accuracy-benchmark runs through the
//! measure-only discipline as it is now, to try a change to it on real data
//! (scripts/bench-accuracy.sh with BENCH_KEEP=DIR keeps them):
//!   cargo run --release --example replay_samples [-v] DIR/cond2/samples.csv... [CLIENT]
//! CLIENT is prossntp (default), chronyd or ntpdig. Prints, per file, the
//! median, p95 and largest error of the estimates from 20 s on against the
//! benchmark's +37 ms, and the p95 of |frequency| (the truth is 0); with -v
//! each estimate too. With `--emit LABEL` it prints instead, for every
//! sample, a row in the benchmark's samples.csv form (client LABEL, the
//! library's estimate from that client's raw samples): the benchmark's
//! paired comparison of prossntp's discipline and chronyd's on chronyd's own
//! measurements.
use prossntp::discipline::Tracker;
use prossntp::proto::timestamp::{NtpDuration, NtpTimestamp};
use prossntp::proto::validate::Sample;
use std::time::Duration;

const TRUE_OFFSET: f64 = 0.037;
const WARMUP: f64 = 20.0;

fn quantile(v: &mut [f64], q: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(((v.len() as f64 - 1.0) * q).round() as usize).copied().unwrap_or(f64::NAN)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let verbose = args.iter().any(|a| a == "-v");
    let emit = args.iter().position(|a| a == "--emit").and_then(|i| args.get(i + 1));
    let files: Vec<&String> = args.iter().filter(|a| a.ends_with(".csv")).collect();
    let who = args
        .iter()
        .find(|a| !a.ends_with(".csv") && *a != "-v" && *a != "--emit" && Some(*a) != emit)
        .map_or("prossntp", |s| s.as_str());
    if files.is_empty() {
        eprintln!("usage: replay_samples [-v | --emit LABEL] SAMPLES.CSV... [prossntp|chronyd|ntpdig]");
        std::process::exit(2);
    }
    for path in files {
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| {
            eprintln!("replay_samples: {path}: {e}");
            std::process::exit(1);
        });
        let mut d = Tracker::new();
        let (mut errs, mut freqs) = (vec![], vec![]);
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
            if let Some(label) = emit {
                println!("{label},{t:.3},{:.9},{so:.9},{del:.9},{:.9}", d.last_offset(), d.frequency_error_ppm());
                continue;
            }
            if t >= WARMUP {
                errs.push((d.last_offset() - TRUE_OFFSET).abs() * 1e6);
                freqs.push(d.frequency_error_ppm().abs());
            }
            if verbose {
                println!(
                    "t={t:6.1} raw={:+8.2} delay={:7.3} ms est={:+8.2} freq={:+7.3} asym={:+.3}",
                    (so - TRUE_OFFSET) * 1e6,
                    del * 1e3,
                    (d.last_offset() - TRUE_OFFSET) * 1e6,
                    d.frequency_error_ppm(),
                    d.asymmetry()
                );
            }
        }
        let n = errs.len();
        if emit.is_some() {
            continue;
        }
        println!(
            "{path}: {who}, {n} estimates from {WARMUP} s: median {:.1} us, p95 {:.1}, max {:.1}, frequency p95 {:.2} ppm",
            quantile(&mut errs, 0.5),
            quantile(&mut errs, 0.95),
            quantile(&mut errs, 1.0),
            quantile(&mut freqs, 0.95)
        );
    }
}
