//! Traces one simulated run: every clock action with the true phase.
//!   cargo run --release --example sim_trace -- [initial_phase_s] [delay_exp_mean_s] [backend] [seconds]
use prossntp::sim::{run, Backend, Scenario};

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let arg = |i: usize, d: f64| a.get(i).and_then(|v| v.parse().ok()).unwrap_or(d);
    let backend = match a.get(3).map(String::as_str) {
        Some("ntp_adjtime") => Backend::NtpAdjtime,
        Some("adjtime") => Backend::Adjtime,
        _ => Backend::Adjtimex,
    };
    let s = Scenario {
        initial_phase: -arg(1, 0.02),
        delay_exp_mean: arg(2, 100e-6),
        duration: arg(4, 200.0),
        poll: 4.0,
        backend,
        trace: true,
        ..Scenario::default()
    };
    println!("{:?}", run(&s));
}
