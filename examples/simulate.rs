//! Prints the simulation table: chrony's default scenario and variations,
//! each over several seeds, median and worst.
//!   cargo run --release --example simulate [SEEDS]
use prossntp::sim::{median_and_worst, median_p90_worst, run, Backend, Figures, Scenario};

/// `base` run over seeds 1..=`seeds`.
fn runs(base: &Scenario, seeds: u64) -> Vec<Figures> {
    (1..=seeds).map(|seed| run(&Scenario { seed, ..base.clone() })).collect()
}

/// Median and worst of a figure over the runs.
fn pick(runs: &[Figures], f: impl Fn(&Figures) -> f64) -> (f64, f64) {
    median_and_worst(&mut runs.iter().map(f).collect::<Vec<_>>())
}

/// "median / worst" of a figure over the runs, `d` decimals.
fn median_worst_cell(runs: &[Figures], f: &dyn Fn(&Figures) -> f64, d: usize) -> String {
    let (m, w) = pick(runs, f);
    format!("{m:.d$} / {w:.d$}")
}

/// The columns both tables share: sync time, RMS and max offset, RMS frequency error.
fn common_columns(runs: &[Figures]) -> String {
    let sync = pick(runs, |r| r.sync_time.unwrap_or(f64::INFINITY));
    let rms = pick(runs, |r| r.rms_offset * 1e6);
    let max = pick(runs, |r| r.max_offset * 1e6);
    let freq = pick(runs, |r| r.rms_freq);
    format!(
        "{:.0} / {:.0} | {:.1} / {:.1} | {:.1} / {:.1} | {:.3} / {:.3}",
        sync.0, sync.1, rms.0, rms.1, max.0, max.1, freq.0, freq.1
    )
}

fn row(name: &str, base: &Scenario, seeds: u64) {
    let runs = runs(base, seeds);
    let mean = pick(&runs, |r| r.mean_offset.abs() * 1e6);
    println!("| {name} | {} | {:.1} |", common_columns(&runs), mean.0);
}

fn main() {
    let seeds: u64 = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(10);
    // `simulate SEEDS startup` / `hard`: one of those tables alone.
    match std::env::args().nth(2).as_deref() {
        Some("startup") => return startup(seeds),
        Some("hard") => return hard_networks(seeds),
        Some("own") => return own_clock(seeds),
        Some("link") => return intermittent_link(seeds),
        Some("recovery") => return recovery(seeds),
        Some("interval") => return interval(seeds),
        _ => {}
    }
    let d = Scenario::default();
    println!("{seeds} seeds each; median / worst. Offsets in us, frequency in ppm, from 210 s to 10,000 s.\n");
    println!("| scenario | sync time s | RMS offset | max offset | RMS freq error | mean offset |");
    println!("|---|---|---|---|---|---|");
    row("chrony default (adjtimex)", &d, seeds);
    row("same, ntp_adjtime", &Scenario { backend: Backend::NtpAdjtime, ..d.clone() }, seeds);
    row("same, adjtime", &Scenario { backend: Backend::Adjtime, ..d.clone() }, seeds);
    row("+1 ms uniform jitter", &Scenario { jitter: 1e-3, ..d.clone() }, seeds);
    row("10 % loss", &Scenario { loss: 0.1, ..d.clone() }, seeds);
    row("5 ms asymmetric path", &Scenario { asymmetry: 5e-3, ..d.clone() }, seeds);
    row("server steps 1 s at 5000 s", &Scenario { server_step: Some((5000.0, 1.0)), ..d.clone() }, seeds);
    row("queueing on the way back only", &Scenario { queue_on_return: true, ..d.clone() }, seeds);
    row("poll 16 s", &Scenario { poll: 16.0, ..d.clone() }, seeds);
    row("poll 1024 s", &Scenario { poll: 1024.0, ..d.clone() }, seeds);
    row("oscillator wander 1e-8 (10x)", &Scenario { freq_walk: 1e-8, ..d.clone() }, seeds);
    several_servers(seeds);
    startup(seeds.max(100));
    hard_networks(seeds);
    println!("\nMeasuring only ({seeds} seeds each; |estimate - true offset| at each valid reply from 20 s on, 210 s in the 10,000 s runs, us; median of the seeds' medians / worst seed's):\n");
    println!("| scenario | median error | p95 error |");
    println!("|---|---|---|");
    for (name, s) in measuring_scenarios() {
        measure_row(name, &s, seeds);
    }
    own_clock(seeds);
    interval(seeds);
    intermittent_link(seeds);
    recovery(seeds);
}

/// The interval read (`prossntp_now`): seconds with the truth outside
/// [earliest, latest], and how wide the interval is.
fn interval(seeds: u64) {
    println!("\nInterval, prossntp_now ({seeds} seeds; median / worst; read every second from the first sync on): outside = seconds with the server's true time outside [earliest, latest]; holdover and disrupted = seconds in that status (disrupted: unbounded); bound = median half-width from 210 s, us, the same as prossntp_gettime's error bound:\n");
    println!("| scenario | outside s | holdover s | disrupted s | bound |");
    println!("|---|---|---|---|---|");
    for (name, base) in Scenario::interval() {
        let runs = runs(&base, seeds);
        let cell = |f: &dyn Fn(&Figures) -> f64, d: usize| median_worst_cell(&runs, f, d);
        println!(
            "| {name} | {} | {} | {} | {} |",
            cell(&|r| r.own_over_bound_secs as f64, 0),
            cell(&|r| r.own_holdover_secs as f64, 0),
            cell(&|r| r.own_disrupted_secs as f64, 0),
            cell(&|r| r.own_bound_median * 1e6, 0),
        );
    }
}

/// The clock never runs away: start-up from any kernel state, steps with
/// replies in flight, events that are not disciplines, wander, outages.
fn recovery(seeds: u64) {
    println!("\nRecovery ({seeds} seeds; median / worst): sync = the first second after which |offset| <= 1 ms holds to the end; max offset = the largest |offset| after start-up (from 210 s; 60 s in the 300 s runs), us; kernel frequency = the largest |frequency correction| (tick included) and the largest change in one second, ppm; unsynced = seconds after start-up with no client at has_sync = 1; requests = all clients':\n");
    println!("| scenario | sync s | max offset us | kernel frequency ppm | largest change ppm | unsynced s | steps | requests |");
    println!("|---|---|---|---|---|---|---|---|");
    for (name, base) in Scenario::recovery() {
        let runs = runs(&base, seeds);
        let cell = |f: &dyn Fn(&Figures) -> f64, d: usize| median_worst_cell(&runs, f, d);
        println!(
            "| {name} | {} | {} | {} | {} | {} | {} | {} |",
            cell(&|r| r.sync_time.unwrap_or(f64::INFINITY), 0),
            cell(&|r| r.max_offset * 1e6, 0),
            cell(&|r| r.max_kernel_freq, 0),
            cell(&|r| r.max_freq_change, 0),
            cell(&|r| r.unsynced_secs as f64, 0),
            cell(&|r| r.steps as f64, 0),
            cell(&|r| r.requests as f64, 0)
        );
    }
}

/// A link that passes packets only 1200 s in every 10,000 s: requests sent
/// into the silence, and seconds with has_sync = 1.
fn intermittent_link(seeds: u64) {
    println!("\nIntermittent link ({seeds} seeds; median / worst; chrony's default scenario, no_reply 1 s, had_reply 64 s, 10,000 s; packets pass only for 1200 s of every 10,000 s, from the window's start on; chronyd sent 169 requests over such a link):\n");
    println!("| link up | requests | has_sync s |");
    println!("|---|---|---|");
    for start in [0.0, 2000.0] {
        let base = Scenario { up: Some((10_000.0, 1200.0, start)), ..Scenario::default() };
        let runs = runs(&base, seeds);
        let cell = |f: &dyn Fn(&Figures) -> f64| median_worst_cell(&runs, f, 0);
        println!(
            "| {start:.0} to {:.0} s | {} | {} |",
            start + 1200.0,
            cell(&|r| r.requests as f64),
            cell(&|r| r.synced_secs[0])
        );
    }
}

/// The clients' own clocks (`prossntp_gettime`) across the scenarios.
fn own_clock(seeds: u64) {
    println!("\nOwn clock, prossntp_gettime ({seeds} seeds; median / worst): |time - the server's true time| read every second from 210 s (20 s in the benchmark's set-up), us; the error bound's median; over bound = seconds from the first sync on with the error above the bound; steps = corrections made at once:\n");
    println!("| scenario | median error | p95 error | max error | bound | over bound s | steps |");
    println!("|---|---|---|---|---|---|---|");
    for (name, base) in own_clock_scenarios() {
        let runs = runs(&base, seeds);
        let cell = |f: &dyn Fn(&Figures) -> f64, d: usize| median_worst_cell(&runs, f, d);
        println!(
            "| {name} | {} | {} | {} | {} | {} | {} |",
            cell(&|r| r.own_median * 1e6, 1),
            cell(&|r| r.own_p95 * 1e6, 1),
            cell(&|r| r.own_max * 1e6, 1),
            cell(&|r| r.own_bound_median * 1e6, 0),
            cell(&|r| r.own_over_bound_secs as f64, 0),
            cell(&|r| r.own_steps as f64, 0),
        );
    }
}

/// Where the own clock is judged: steering and measuring, polls, jitter,
/// a server step, the hard networks, and a host clock meddled with.
fn own_clock_scenarios() -> Vec<(String, Scenario)> {
    let d = Scenario::default();
    let m = Scenario { steering: false, ..d.clone() };
    let mut v: Vec<(String, Scenario)> = vec![
        ("chrony default, steering".into(), d.clone()),
        ("chrony default, measuring only".into(), m.clone()),
        (
            "measuring; somebody steps the host clock 1 s at 3000 s, then slews it at 500 ppm".into(),
            Scenario { meddle: Some((3000.0, 1.0, 500e-6)), ..m.clone() },
        ),
        ("poll 16 s".into(), Scenario { poll: 16.0, ..d.clone() }),
        ("poll 1024 s, 100,000 s".into(), Scenario { poll: 1024.0, duration: 100_000.0, ..d.clone() }),
        ("+1 ms uniform jitter".into(), Scenario { jitter: 1e-3, ..d.clone() }),
        ("oscillator wander 1e-8 (10x)".into(), Scenario { freq_walk: 1e-8, ..d.clone() }),
        ("server steps 1 s at 5000 s".into(), Scenario { server_step: Some((5000.0, 1.0)), ..d.clone() }),
        ("benchmark set-up, 1 ms uniform jitter".into(), Scenario { jitter: 1e-3, ..Scenario::benchmark_measuring() }),
    ];
    for (name, s) in Scenario::hard_networks(&d, 1280.0, 5000.0) {
        v.push((format!("hard network: {name}"), s));
    }
    v
}

/// The accuracy benchmark's conditions, then chrony's scenario, measure only.
fn measuring_scenarios() -> Vec<(&'static str, Scenario)> {
    let m = Scenario::benchmark_measuring();
    let chrony = Scenario { steering: false, ..Scenario::default() };
    vec![
        ("no jitter (1 ms each way)", m.clone()),
        ("1 ms uniform jitter each way", Scenario { jitter: 1e-3, ..m.clone() }),
        ("same, 2 ms asymmetric path", Scenario { jitter: 1e-3, asymmetry: 2e-3, ..m }),
        ("chrony's default delays, 64 s poll, 10,000 s", chrony.clone()),
        ("same, queueing on the way back only", Scenario { queue_on_return: true, ..chrony }),
    ]
}

fn measure_row(name: &str, base: &Scenario, seeds: u64) {
    let runs = runs(base, seeds);
    let (m, mw) = pick(&runs, |r| r.estimate_median * 1e6);
    let (p, pw) = pick(&runs, |r| r.estimate_p95 * 1e6);
    println!("| {name} | {m:.1} / {mw:.1} | {p:.1} / {pw:.1} |");
}

/// Several servers, a steering client each, one clock owner.
fn several_servers(seeds: u64) {
    println!("\nSeveral servers, a client each, one clock ({seeds} seeds each; median / worst; figures against true time from 210 s; \"false followed\": seconds any falseticker's client had has_sync = 1; \"toward false\": the clock's largest offset toward the falsetickers, us; role changes: the most of any client):\n");
    println!("| scenario | sync time s | RMS offset | max offset | RMS freq error | steps | false followed s | toward false | role changes |");
    println!("|---|---|---|---|---|---|---|---|---|");
    let mut single_rms = vec![];
    let mut three_rms = vec![];
    for (name, base) in Scenario::several_servers() {
        let runs = runs(&base, seeds);
        let steps = pick(&runs, |r| r.steps as f64);
        let followed = pick(&runs, |r| r.synced_while_false.iter().sum());
        let toward = pick(&runs, |r| r.toward_false * 1e6);
        let changes = pick(&runs, |r| r.role_changes.iter().copied().max().unwrap_or(0) as f64);
        println!(
            "| {name} | {} | {:.0} / {:.0} | {:.0} / {:.0} | {:.1} / {:.1} | {:.0} / {:.0} |",
            common_columns(&runs),
            steps.0,
            steps.1,
            followed.0,
            followed.1,
            toward.0,
            toward.1,
            changes.0,
            changes.1
        );
        match name {
            n if n.starts_with("1 server") => single_rms = runs.iter().map(|r| r.rms_offset).collect(),
            "3 equal servers" => three_rms = runs.iter().map(|r| r.rms_offset).collect(),
            _ => {}
        }
    }
    let mut ratio: Vec<f64> = single_rms.iter().zip(&three_rms).map(|(one, three)| three / one).collect();
    let (m, w) = median_and_worst(&mut ratio);
    println!("\n3 equal servers against 1, RMS offset ratio seed by seed: median {m:.2}, worst {w:.2} (ideal 1/sqrt(3) = 0.58)");
}

/// Start-up and tracking: chrony's default scenario at fixed polls from 16
/// to 1024 s, median / p90 / worst over at least 100 seeds.
fn startup(seeds: u64) {
    println!("\nStart-up and tracking ({seeds} seeds; median / p90 / worst): sync = the first second after which |offset| <= 1 ms holds to the end; start-up max = the largest |offset| from 10 s to 210 s; RMS and max offset from 210 s; frequency error = RMS of 64 s averages of the clock's rate error (slews included); over bound = seconds with has_sync = 1 and the true error above the kernel's maxerror (the bound published), over esterror = the same against the kernel's esterror (the estimate published); steady = the second half of the run (RMS, max |offset|, and the RMS of 64 s averages of the rate error):\n");
    println!(
        "| poll | sync s | start-up max us | RMS offset us | max offset us | freq error 64 s ppm | over bound s | over esterror s | steady RMS us | steady max us | steady freq error ppm |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for poll in [16.0, 64.0, 256.0, 1024.0] {
        let duration = if poll > 256.0 { 100_000.0 } else { 10_000.0 };
        let base = Scenario { poll, duration, ..Scenario::default() };
        let runs = runs(&base, seeds);
        let p = |f: &dyn Fn(&Figures) -> f64| median_p90_worst(&mut runs.iter().map(f).collect::<Vec<_>>());
        let cell3 = |v: (f64, f64, f64), d: usize| format!("{:.d$} / {:.d$} / {:.d$}", v.0, v.1, v.2);
        println!(
            "| {poll:.0} s | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            cell3(p(&|r| r.sync_time.unwrap_or(f64::INFINITY)), 0),
            cell3(p(&|r| r.startup_max * 1e6), 1),
            cell3(p(&|r| r.rms_offset * 1e6), 1),
            cell3(p(&|r| r.max_offset * 1e6), 1),
            cell3(p(&|r| r.freq_64s), 3),
            cell3(p(&|r| r.over_bound_secs as f64), 0),
            cell3(p(&|r| r.over_esterror_secs as f64), 0),
            cell3(p(&|r| r.steady_rms * 1e6), 1),
            cell3(p(&|r| r.steady_max * 1e6), 1),
            cell3(p(&|r| r.steady_freq), 3),
        );
    }
    println!("\n{CHRONYD_REFERENCE}");
}

/// chronyd in chrony's own simulator (clknetsim) on the same scenario, 100
/// seeds, poll fixed (minpoll = maxpoll, no iburst), measured once; its
/// figures do not change with this code, so they are quoted, not rerun.
const CHRONYD_REFERENCE: &str = "chronyd for reference (chrony 8f2db83 in clknetsim 134028f, the same scenario, 100 seeds, fixed poll, no iburst; median): \
64 s from 211 s: sync 131 s (worst 132), RMS 23.4 us, max 74.9 us, freq error 64 s 0.119 ppm (p90 0.193, worst 0.335); \
steady RMS / max / freq error: 16 s 10.6 / 28.2 us / 0.071 ppm, 64 s 21.8 / 44.6 / 0.071, 256 s 48.4 / 89.8 / 0.048, 1024 s 103 / 284 / 0.108.";

/// The accuracy benchmark's hard networks, steering (chrony's default
/// scenario otherwise) and measuring only (the benchmark's set-up).
fn hard_networks(seeds: u64) {
    println!("\nHard networks, steering ({seeds} seeds; median / worst; chrony's default scenario with the network changed: bursts for 1280 s in every 2560 s, the route change at 5000 s; figures from 210 s; over bound as in the start-up table):\n");
    println!(
        "| network | sync s | RMS offset us | max offset us | freq error 64 s ppm | over bound s | over esterror s |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (name, base) in Scenario::hard_networks(&Scenario::default(), 1280.0, 5000.0) {
        let runs = runs(&base, seeds);
        let cell = |f: &dyn Fn(&Figures) -> f64, d: usize| median_worst_cell(&runs, f, d);
        println!(
            "| {name} | {} | {} | {} | {} | {} | {} |",
            cell(&|r| r.sync_time.unwrap_or(f64::INFINITY), 0),
            cell(&|r| r.rms_offset * 1e6, 1),
            cell(&|r| r.max_offset * 1e6, 1),
            cell(&|r| r.freq_64s, 3),
            cell(&|r| r.over_bound_secs as f64, 0),
            cell(&|r| r.over_esterror_secs as f64, 0),
        );
    }
    println!("\nHard networks, measuring only ({seeds} seeds; the benchmark's set-up: 2 s polls, 1 ms + uniform(0, 0.5 ms) each way, 400 s, bursts for 40 s in every 80 s, the route change at 200 s; |estimate - true offset| at each valid reply from 20 s, us; median of the seeds' figures / worst seed's):\n");
    println!("| network | median error | p95 error | max error |");
    println!("|---|---|---|---|");
    let m = Scenario { duration: 400.0, jitter: 0.5e-3, ..Scenario::benchmark_measuring() };
    for (name, base) in Scenario::hard_networks(&m, 40.0, 200.0) {
        let runs = runs(&base, seeds);
        let (a, aw) = pick(&runs, |r| r.estimate_median * 1e6);
        let (b, bw) = pick(&runs, |r| r.estimate_p95 * 1e6);
        let (c, cw) = pick(&runs, |r| r.estimate_max * 1e6);
        println!("| {name} | {a:.1} / {aw:.1} | {b:.1} / {bw:.1} | {c:.1} / {cw:.1} |");
    }
}
