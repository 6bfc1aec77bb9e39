use prossntp::sim::{median_and_worst, run, Scenario};
fn main() {
    let a: Vec<String> = std::env::args().collect();
    let walk: f64 = a.get(1).and_then(|v| v.parse().ok()).unwrap_or(1e-9);
    let exp: f64 = a.get(2).and_then(|v| v.parse().ok()).unwrap_or(100e-6);
    let poll: f64 = a.get(3).and_then(|v| v.parse().ok()).unwrap_or(64.0);
    let mut rms: Vec<f64> = (1..=30)
        .map(|seed| {
            run(&Scenario { seed, freq_walk: walk, delay_exp_mean: exp, poll, ..Scenario::default() }).rms_offset * 1e6
        })
        .collect();
    let (m, w) = median_and_worst(&mut rms);
    println!("walk {walk} exp {exp} poll {poll}: RMS median {m:.1} worst {w:.1}");
}
