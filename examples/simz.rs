use prossntp::sim::{median_and_worst, run, Scenario};
fn main() {
    let seeds: u64 = std::env::args().nth(1).and_then(|v| v.parse().ok()).unwrap_or(100);
    let mut rms: Vec<f64> =
        (1..=seeds).map(|seed| run(&Scenario { seed, ..Scenario::default() }).rms_offset * 1e6).collect();
    let (m, w) = median_and_worst(&mut rms);
    let mut jit: Vec<f64> =
        (1..=30).map(|seed| run(&Scenario { seed, jitter: 1e-3, ..Scenario::default() }).rms_offset * 1e6).collect();
    let (jm, _) = median_and_worst(&mut jit);
    let mut q: Vec<f64> = (1..=30)
        .map(|seed| run(&Scenario { seed, queue_on_return: true, ..Scenario::default() }).rms_offset * 1e6)
        .collect();
    let (qm, _) = median_and_worst(&mut q);
    println!("100-seed RMS median {m:.2} worst {w:.1} | jitter {jm:.1} | queue {qm:.1}");
}
