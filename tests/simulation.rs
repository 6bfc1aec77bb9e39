//! The discipline in simulation (chrony's default scenario and variations).
//! Bounds here are loose so they never flake; `cargo run --release --example
//! simulate` prints the real figures.
#![cfg(target_os = "linux")]

use prossntp::discipline::Role;
use prossntp::sim::{median_and_worst, run, Backend, Figures, ForeignDaemon, Scenario, ServerModel};

fn runs(base: &Scenario, seeds: u64) -> Vec<Figures> {
    (1..=seeds).map(|seed| run(&Scenario { seed, ..base.clone() })).collect()
}

fn median(runs: &[Figures], f: impl Fn(&Figures) -> f64) -> f64 {
    let mut v: Vec<f64> = runs.iter().map(f).collect();
    median_and_worst(&mut v).0
}

#[test]
fn chrony_default_scenario_with_each_backend() {
    for backend in [Backend::Adjtimex, Backend::NtpAdjtime, Backend::Adjtime] {
        let r = runs(&Scenario { backend, ..Scenario::default() }, 5);
        let sync = median(&r, |f| f.sync_time.unwrap_or(f64::INFINITY));
        let rms = median(&r, |f| f.rms_offset);
        let max = median(&r, |f| f.max_offset);
        eprintln!("{backend:?}: sync {sync} s, RMS {:.1} us, max {:.1} us", rms * 1e6, max * 1e6);
        assert!(sync <= 100.0, "{backend:?}: sync {sync}");
        assert!(rms < 40e-6, "{backend:?}: RMS {rms}");
        assert!(max < 250e-6, "{backend:?}: max {max}");
        assert!(r.iter().all(|f| f.steps == 1), "one step at start, then slews only");
    }
    let r = runs(&Scenario::default(), 5);
    assert!(median(&r, |f| f.rms_freq) < 0.5, "ppm");
}

#[test]
fn runs_are_deterministic() {
    let a = run(&Scenario { seed: 7, duration: 2000.0, ..Scenario::default() });
    let b = run(&Scenario { seed: 7, duration: 2000.0, ..Scenario::default() });
    assert_eq!((a.rms_offset, a.max_offset, a.requests), (b.rms_offset, b.max_offset, b.requests));
}

#[test]
fn a_small_initial_offset_is_slewed_never_stepped() {
    let r = run(&Scenario { initial_phase: 0.020, ..Scenario::default() });
    assert_eq!(r.steps, 0);
    assert!(r.sync_time.is_some_and(|t| t < 200.0), "{:?}", r.sync_time);
}

#[test]
fn loss_jitter_and_asymmetry_degrade_gracefully() {
    let loss = runs(&Scenario { loss: 0.1, ..Scenario::default() }, 3);
    assert!(median(&loss, |f| f.rms_offset) < 60e-6);
    let jitter = runs(&Scenario { jitter: 1e-3, ..Scenario::default() }, 3);
    assert!(median(&jitter, |f| f.rms_offset) < 500e-6);
    // An asymmetric path biases every client by half the asymmetry.
    let asym = runs(&Scenario { asymmetry: 5e-3, ..Scenario::default() }, 3);
    let bias = median(&asym, |f| f.mean_offset);
    assert!((bias - 2.5e-3).abs() < 0.3e-3, "{bias}");
}

#[test]
fn a_server_step_is_followed_after_agreeing_samples() {
    let r = run(&Scenario { server_step: Some((5000.0, 1.0)), ..Scenario::default() });
    assert_eq!(r.steps, 2, "the start and the server's step");
    // Three polls of 64 s to agree, then back in sync.
    assert!(r.sync_time.is_some_and(|t| (5000.0..5400.0).contains(&t)), "{:?}", r.sync_time);
}

#[test]
fn hours_of_simulated_time_run_fast() {
    let start = std::time::Instant::now();
    let r = run(&Scenario { duration: 6.0 * 3600.0, poll: 16.0, ..Scenario::default() });
    eprintln!("6 h simulated in {:?}", start.elapsed());
    assert!(r.requests > 1300);
}

#[test]
fn measuring_only_the_estimate_beats_single_samples() {
    // The accuracy benchmark's jitter condition: 1 ms + uniform(0, 1 ms)
    // each way, 2 s polls, a clock 100 ppm fast that is never touched. A
    // single sample's error has a median of about 146 us.
    let m = Scenario { jitter: 1e-3, ..Scenario::benchmark_measuring() };
    let r = runs(&m, 5);
    assert!(r.iter().all(|f| f.steps == 0 && f.requests > 90), "never steered");
    let err = median(&r, |f| f.estimate_median);
    eprintln!("measuring, 1 ms jitter: median error {:.1} us", err * 1e6);
    // (The 16-sample line fit before the 64-sample register read about 63 us
    // here; the simulator is deterministic, so this bound does not flake.)
    assert!(err < 50e-6, "{err}");
    // The drift is followed: without it the estimate would be 100 ppm x the
    // fit's span off.
    let calm = runs(&Scenario { jitter: 0.0, ..m }, 2);
    assert!(median(&calm, |f| f.estimate_p95) < 5e-6);
}

#[test]
fn a_one_sided_queue_does_not_bias_the_clock() {
    // Exponential queueing on the way back only: every raw sample reads
    // half its queueing delay (mean 100 us) low; without the asymmetry
    // correction the clock settled about 17 us off (median of 10 seeds).
    let r = runs(&Scenario { queue_on_return: true, ..Scenario::default() }, 3);
    let bias = median(&r, |f| f.mean_offset.abs());
    eprintln!("one-sided queue: mean offset {:.1} us, RMS {:.1} us", bias * 1e6, median(&r, |f| f.rms_offset) * 1e6);
    assert!(bias < 10e-6, "{bias}");
    assert!(median(&r, |f| f.rms_offset) < 20e-6);
}

/// The several-server scenarios of the table, by name.
fn several(name: &str) -> Scenario {
    Scenario::several_servers().into_iter().find(|(n, _)| *n == name).expect("a scenario of the table").1
}

#[test]
fn three_equal_servers_beat_one() {
    let one = runs(&Scenario::default(), 10);
    let three = runs(&several("3 equal servers"), 10);
    let ratio = median(&three, |f| f.rms_offset) / median(&one, |f| f.rms_offset);
    eprintln!("3 equal servers against 1: RMS ratio {ratio:.2}");
    assert!(ratio < 0.85, "{ratio}");
    assert!(three.iter().all(|f| f.steps == 1 && f.synced.iter().all(|&s| s)));
}

#[test]
fn falsetickers_are_never_followed() {
    for name in [
        "1 of 3 false by 200 ms",
        "1 of 3 false by 5 ms",
        "2 of 5 false, by 200 ms and 5 ms",
        "2 of 5 false by 5 ms, agreeing",
    ] {
        for f in runs(&several(name), 3) {
            assert_eq!(f.steps, 1, "{name}: one step at the start");
            assert!(f.toward_false < 1e-3, "{name}: {} s toward the falsetickers", f.toward_false);
            assert_eq!(f.synced_while_false.iter().sum::<f64>(), 0.0, "{name}: a falseticker's client had has_sync");
            let false_ones = f.roles.iter().filter(|r| **r == Role::Falseticker).count();
            assert_eq!(false_ones, if name.starts_with("1 of 3") { 1 } else { 2 }, "{name}: {:?}", f.roles);
            assert!(f.rms_offset < 30e-6, "{name}: {}", f.rms_offset);
        }
    }
}

#[test]
fn a_server_turning_false_or_going_away_neither_steps_nor_drags_the_clock() {
    for f in runs(&several("1 of 3 turns false (+5 ms) after 1 h"), 3) {
        assert_eq!(f.steps, 1);
        assert!(f.toward_false < 200e-6, "{}", f.toward_false);
        assert_eq!(f.roles[1], Role::Falseticker);
        // Followed at most until its first sample after turning (a poll).
        assert!(f.synced_while_false[1] <= 64.0, "{:?}", f.synced_while_false);
    }
    for f in runs(&several("3 paths, the best server goes away at 5000 s"), 3) {
        assert_eq!(f.steps, 1);
        assert!(f.max_offset < 300e-6, "{}", f.max_offset);
        assert!(!f.synced[0] && f.synced[1] && f.synced[2], "{:?}", f.synced);
        assert!(f.role_changes.iter().all(|&n| n <= 10), "{:?}", f.role_changes);
    }
}

#[test]
fn a_foreign_daemon_is_left_to_steer() {
    // From 3000 s another daemon sets the frequency every 64 s (as chronyd
    // does): the library stands down at its next sample and corrects nothing more.
    let daemon = ForeignDaemon { start: 3000.0, period: 64.0, freq_ppm: -100.0 };
    let base = Scenario { duration: 6000.0, foreign: Some(daemon), ..Scenario::default() };
    let before = run(&Scenario { duration: 3000.0, ..base.clone() });
    let after = run(&base);
    assert_eq!(after.corrections, before.corrections, "no correction after the daemon started");
    assert_eq!(after.roles, vec![Role::StandingDown]);
    assert!(after.synced[0], "standing down, the client measures");
}

#[test]
fn bursts_of_one_sided_congestion_do_not_capture_the_clock() {
    // 80 % of requests 2.5-5 ms slower on the way out for 1280 s in every
    // 2560 s: each reads 1.25-2.5 ms high. (Before the core cut in steering
    // the clock followed the bursts, 1.5-2.4 ms off.)
    let (name, base) = Scenario::hard_networks(&Scenario::default(), 1280.0, 5000.0).swap_remove(1);
    let r = runs(&Scenario { duration: 6000.0, ..base }, 5);
    for f in &r {
        eprintln!(
            "{name}: RMS {:.1} us, max {:.1} us at {} s",
            f.rms_offset * 1e6,
            f.max_offset * 1e6,
            f.max_offset_at
        );
        assert!(f.max_offset < 500e-6, "{name}: max {}", f.max_offset);
        assert_eq!((f.over_bound_secs, f.over_esterror_secs), (0, 0));
    }
}

#[test]
fn the_own_clock_keeps_the_servers_time_whatever_the_host_clock_does() {
    // Measuring only; somebody steps the host clock by 1 s at 3000 s and
    // slews it at 500 ppm from then on: the own clock must not move.
    let meddled = Scenario { steering: false, meddle: Some((3000.0, 1.0, 500e-6)), ..Scenario::default() };
    for (name, base) in [("steering", Scenario::default()), ("meddled", meddled)] {
        let r = runs(&base, 5);
        let err = median(&r, |f| f.own_median);
        let max = r.iter().map(|f| f.own_max).fold(0.0, f64::max);
        eprintln!("{name}: own clock median error {:.1} us, largest {:.1} us", err * 1e6, max * 1e6);
        assert!(err < 100e-6, "{name}: median {err}");
        assert!(max < 2e-3, "{name}: largest {max}");
        assert!(r.iter().all(|f| f.own_over_bound_secs == 0), "{name}: the bound holds from the first sync");
        assert!(r.iter().all(|f| f.own_steps == 0), "{name}: no correction at once");
    }
}

#[test]
fn a_server_step_steps_the_own_clock_once() {
    // (Until the next sample the clock cannot know: those seconds are over
    // its bound, and counted. The sample that shows the step disrupts the
    // clock; the one the client takes at once confirms it and steps.)
    let r = runs(&Scenario { server_step: Some((5000.0, 1.0)), ..Scenario::default() }, 3);
    assert!(r.iter().all(|f| f.own_steps == 1), "{:?}", r.iter().map(|f| f.own_steps).collect::<Vec<_>>());
    assert!(r.iter().all(|f| f.own_over_bound_secs <= 64), "one poll interval at most");
    assert!(r.iter().all(|f| f.own_disrupted_secs <= 2), "disrupted until the burst's first sample");
}

#[test]
fn the_truth_stays_in_the_interval_every_second_holdover_included() {
    // Every interval scenario but the one where the truth moves and no
    // sample can have said so yet (a server step: its seconds are the
    // simulation table's). An announced leap second is applied at midnight,
    // the bound a second wider within its own width of it.
    for (name, base) in Scenario::interval() {
        if name.contains("steps") {
            continue;
        }
        let seeds = if base.duration > 20_000.0 { 3 } else { 10 };
        for f in runs(&base, seeds) {
            assert_eq!(f.own_over_bound_secs, 0, "{name}: seconds with the truth outside");
            assert_eq!(f.own_disrupted_secs, 0, "{name}");
            if name.contains("silent") {
                assert!(f.own_holdover_secs > 4800, "{name}: holdover from 129 s after the last sample");
            } else {
                assert_eq!(f.own_holdover_secs, 0, "{name}");
            }
        }
    }
}

#[test]
fn replies_in_flight_across_a_step_are_never_judged_against_the_new_clock() {
    // Handled 20 ms late, the slower servers' replies to requests sent
    // before the first step are handled after it: judged against the
    // stepped clock they read 0.1 s off, and their servers were called
    // falsetickers (in every seed of 1..=10 with the check disabled).
    for f in runs(&Scenario::recovery_named("3 servers, replies handled 20 ms late across the first step"), 10) {
        assert_eq!(f.false_marks, vec![0, 0, 0], "no agreeing server is ever a falseticker");
        assert!(f.synced.iter().all(|&s| s), "{:?}", f.synced);
        assert_eq!(f.steps, 1);
        assert!(f.max_kernel_freq < 300.0, "frequency {} ppm (the oscillator is 100 ppm off)", f.max_kernel_freq);
        assert!(f.max_offset < 1e-3, "{}", f.max_offset);
    }
}

#[test]
fn a_kernel_frequency_left_far_off_is_owned_and_corrected() {
    // -5000 and +5000 ppm left in force by somebody (the tick 50 us off
    // nominal): the clock drifts 10 ms between two samples. Before the fix
    // step votes never agreed and the clock ended 1.4 and 1.6 s off.
    // (And +5000 ppm over 10 ms round trips, replies handled 5 ms late,
    // where three votes are too unsure of the rate at the step itself.)
    let names = [
        "3 servers, kernel left at -5000 ppm",
        "3 servers, kernel left at +5000 ppm",
        "3 servers on 10 ms paths, kernel left at +5000 ppm",
        // The ends of the tick's range (the kernel accepts 9000 to 11000):
        // with the backend's range at ±5100 ppm the votes never agreed,
        // 30 s off at 300 s.
        "3 servers, kernel left at tick 9000 (-10 %)",
        "3 servers, kernel left at tick 11000 (+10 %)",
    ];
    for ppm in names {
        let base = Scenario::recovery_named(ppm);
        for f in runs(&base, 6) {
            assert!(f.sync_time.is_some_and(|t| t <= 60.0), "{ppm}: sync {:?}", f.sync_time);
            assert_eq!(f.unsynced_secs, 0, "{ppm}");
            assert!(f.max_offset < 1e-3, "{ppm}: max {}", f.max_offset);
            assert!(f.final_offset.abs() < 300e-6, "{ppm}: {}", f.final_offset);
        }
    }
}

#[test]
fn a_kernel_frequency_left_far_off_is_corrected_over_congested_paths_within_40_s() {
    // The VM's multifreq runs (40 s each, three clients) in a guest under
    // load, modelled: three servers over 0.4 ms + exponential 5 ms paths,
    // replies handled 5 ms late, the kernel left at ±5000 ppm. With 100 ppm
    // of doubt about the frequency in force, 7 and 6 of these 30 seeds
    // ended more than 1 ms off (up to 14 and 27 ms; in the guest once
    // 105 ms, all clients has_sync = 1, the clock slewing what the step
    // left); doubted as much as it is large, 2 and 2 (1.15 and 1.21 ms).
    let path = ServerModel { delay_base: 0.4e-3, delay_exp_mean: 5e-3, ..ServerModel::chrony() };
    for ppm in [5000.0, -5000.0] {
        let base = Scenario {
            kernel_freq_ppm: ppm,
            servers: vec![path.clone(), path.clone(), path.clone()],
            duration: 40.0,
            figures_from: 30.0,
            late_handling: 0.005,
            ..Scenario::recovery_named("3 servers, kernel left at +5000 ppm")
        };
        let r = runs(&base, 30);
        let off = r.iter().filter(|f| f.final_offset.abs() > 1e-3).count();
        let worst = r.iter().map(|f| f.final_offset.abs()).fold(0.0, f64::max);
        assert!(off <= 3 && worst < 2e-3, "{ppm} ppm: {off} of 30 more than 1 ms off at 40 s, worst {worst}");
    }
}

#[test]
fn an_oscillator_half_a_percent_off_is_disciplined() {
    // chrony's 003-largefreqoffset at +-0.5 %: before the fix the library
    // never synchronised (49 s off at 10,000 s).
    for osc in ["+0.5 %", "-0.5 %"] {
        let r = runs(&Scenario::recovery_named(&format!("oscillator {osc}")), 5);
        for f in &r {
            assert!(f.sync_time.is_some_and(|t| t <= 130.0), "{osc}: sync {:?}", f.sync_time);
            assert_eq!(f.steps, 1, "{osc}");
            assert!(f.max_offset < 250e-6, "{osc}: max {}", f.max_offset);
        }
        assert!(median(&r, |f| f.rms_offset) < 40e-6, "{osc}");
    }
    // And at +-5 %, within the backend's ±10 % since it moves the tick as
    // far as the kernel lets it (at ±5100 ppm never synchronised; chronyd
    // in chrony's simulator within 130 s). Slower: the drift of a 64 s
    // poll at 5 % is 3.2 s.
    for osc in ["+5 %", "-5 %"] {
        for f in runs(&Scenario::recovery_named(&format!("oscillator {osc}")), 5) {
            assert!(f.sync_time.is_some_and(|t| t <= 600.0), "{osc}: sync {:?}", f.sync_time);
            assert!(f.final_offset.abs() < 200e-6, "{osc}: {}", f.final_offset);
        }
    }
}

#[test]
fn an_unanswered_client_backs_off_and_syncs_when_the_link_comes_up() {
    // The link passes packets only from 2000 s to 3200 s of the 10,000:
    // silence at the start and after. chronyd (poll 6, maxpoll 10) sent
    // 169 requests over such a link; without the backoff the client sent
    // one every no_reply (1 s) of the 8800 s of silence.
    let s = Scenario { up: Some((10_000.0, 1200.0, 2000.0)), ..Scenario::default() };
    let f = run(&s);
    eprintln!(
        "intermittent link: {} requests, has_sync {} s, in sync at the end: {:?}",
        f.requests, f.synced_secs[0], f.synced
    );
    assert!(f.requests <= 400, "{} requests", f.requests);
    // Up to 64 s (had_reply) to find the link up, then in sync until the
    // fourth miss after it goes down (a poll, then three 1 s apart).
    assert!((1100.0..1500.0).contains(&f.synced_secs[0]), "{} s in sync", f.synced_secs[0]);
    assert_eq!(f.synced, vec![false], "lost with the link");
    // The same run cut short: not synced before the link is up, synced
    // and within 1 ms of the server 100 s into it.
    let before = run(&Scenario { duration: 1999.0, ..s.clone() });
    assert_eq!(before.synced_secs, vec![0.0]);
    let up = run(&Scenario { duration: 2100.0, ..s.clone() });
    assert_eq!(up.synced, vec![true]);
    assert!(up.sync_time.is_some_and(|t| (2000.0..2100.0).contains(&t)), "{:?}", up.sync_time);
}

#[test]
fn under_heavy_jitter_one_outlier_never_drops_sync() {
    // Exponential queueing of 0.1 s mean each way: a sample slow on one leg
    // reads more than the 0.128 s step threshold off. Before the fix each
    // such sample was a step vote that dropped the only server (18 to 42
    // role changes, 512 to 1472 s without has_sync in seeds 1..=6, and
    // extra steps); now a vote must exceed the threshold by half its
    // delay's excess, and a followed source keeps its role while votes
    // gather.
    // (The clock itself wanders by tens of ms here; in one seed of six it
    // drifts far enough for a second step.)
    for f in runs(&Scenario::recovery_named("0.1 s exponential queueing each way"), 6) {
        assert_eq!(f.unsynced_secs, 0);
        assert!(f.role_changes[0] <= 2, "{:?}", f.role_changes);
        assert!(f.steps <= 2, "{}", f.steps);
        assert!(f.max_offset < 0.3, "{}", f.max_offset);
    }
}

#[test]
fn a_fast_wandering_oscillator_is_tracked() {
    // A random walk of 1e-7/sqrt(s), 100 times chrony's default (its
    // 007-largewander), at the fixed 64 s poll. chronyd there (30 seeds,
    // median / worst): RMS 139 / 177 us, max 495 / 814 us, frequency error
    // of 64 s averages 1.28 / 1.54 ppm: at least as good on each figure.
    // (With a fixed wander allowance the library read 381 / 642 us RMS and
    // 2.12 / 3.73 ppm; with the allowance starting at its floor, max 561 /
    // 1045 us and within 1 ms only from 900 s in the worst seed.)
    let r = runs(&Scenario::recovery_named("wander 1e-7 (100x)"), 30);
    let figure = |f: &dyn Fn(&Figures) -> f64| median_and_worst(&mut r.iter().map(f).collect::<Vec<_>>());
    let chronyd =
        [("RMS offset", 139e-6, 177e-6), ("max offset", 495e-6, 814e-6), ("64 s frequency error", 1.28, 1.54)];
    let ours = [figure(&|f| f.rms_offset), figure(&|f| f.max_offset), figure(&|f| f.freq_64s)];
    for ((name, median, worst), (m, w)) in chronyd.into_iter().zip(ours) {
        assert!(m < median && w < worst, "{name}: {m} / {w} against chronyd's {median} / {worst}");
    }
    assert!(r.iter().all(|f| f.sync_time.is_some_and(|t| t < 200.0)), "within 1 ms for good from the start-up");
}

#[test]
fn all_servers_agree_and_the_clock_does_not_the_clock_moved() {
    // Three servers that agree; at 3000 s the clock's rate changes by
    // 200 ppm (somebody slews it, or the oscillator jumps). Each source's
    // newest sample then disagrees with its own estimate: before the fix
    // each was left out in turn, nothing steered, and the clock ended 1.4 s
    // off with every client unsynchronised (seeds 1..=4). Now a majority of
    // sources disagreeing with themselves means the clock moved, and two
    // slopes in a row far beyond the frequency's doubt mean the rate changed
    // (without that rule: within 1 ms from 3786-3983 s, up to 315 s with no
    // client synchronised).
    let base = Scenario::recovery_named("3 servers, the clock's rate changes 200 ppm at 3000 s");
    let r = runs(&base, 10);
    assert!(
        median(&r, |f| f.unsynced_secs as f64) < 10.0,
        "{} s without has_sync",
        median(&r, |f| f.unsynced_secs as f64)
    );
    for f in r {
        assert!(f.sync_time.is_some_and(|t| t < 3500.0), "{:?}", f.sync_time);
        assert!(f.final_offset.abs() < 1e-3, "{}", f.final_offset);
        assert!(f.max_offset < 0.1, "{}", f.max_offset);
        assert!(f.unsynced_secs < 300, "{} s without has_sync", f.unsynced_secs);
        assert!(f.synced.iter().all(|&s| s), "{:?}", f.synced);
    }
}
#[test]
fn a_single_foreign_step_is_an_event_not_another_discipline() {
    // Somebody else steps the clock once by +-100 s at 150 s (chrony's test:
    // chronyd is back at 1524 s, the limit 1550 s). The owner keeps steering
    // and steps back after three agreeing samples.
    for step in [100.0, -100.0] {
        for seed in 1..=5 {
            let s = Scenario { seed, duration: 3000.0, meddle: Some((150.0, step, 0.0)), ..Scenario::default() };
            let f = run(&s);
            eprintln!(
                "foreign step {step:+} s, seed {seed}: back within 1 ms at {:?} s, steps {}, stood down {} s",
                f.sync_time, f.steps, f.foreign_secs
            );
            assert_eq!((f.stand_downs, f.foreign_secs), (0, 0), "{step:+} s, seed {seed}: stood down");
            assert!(f.sync_time.is_some_and(|t| t < 1000.0), "{step:+} s, seed {seed}: {:?}", f.sync_time);
            assert_eq!(f.steps, 2, "the start and the way back");
        }
    }
}

#[test]
fn a_leap_second_the_servers_announce_is_not_another_discipline() {
    // UTC midnight falls 3000 s into the run; the servers announce the leap
    // second from the start, the library sets STA_INS (STA_DEL), the kernel
    // repeats (skips) a second, raises (lowers) its TAI offset and clears
    // the bit. Figures are against UTC.
    let midnight = 1_800_057_600;
    for leap_second in [1, -1] {
        let base = Scenario { unix_start: midnight - 3000, leap_second, ..Scenario::default() };
        assert_eq!(base.leap_at().map(|l| l.0), Some(if leap_second > 0 { 3000.0 } else { 2999.0 }));
        for (seed, f) in runs(&base, 5).into_iter().enumerate() {
            eprintln!(
                "leap {leap_second:+}, seed {}: RMS {:.1} us, max {:.1} us at {} s, max after 5000 s {:.1} us, \
                 stood down {} s, has_sync lost {} s",
                seed + 1,
                f.rms_offset * 1e6,
                f.max_offset * 1e6,
                f.max_offset_at,
                f.steady_max * 1e6,
                f.foreign_secs,
                f.sync_lost_secs
            );
            assert_eq!(f.leaps, i32::from(leap_second), "the kernel made the leap");
            assert_eq!((f.stand_downs, f.foreign_secs), (0, 0), "leap {leap_second:+}: stood down");
            assert_eq!(f.sync_lost_secs, 0, "leap {leap_second:+}: has_sync lost");
            assert_eq!(f.steps, 1, "one step at the start, none for the leap");
            assert!(f.rms_offset < 40e-6 && f.max_offset < 250e-6, "{} {}", f.rms_offset, f.max_offset);
            assert!(f.steady_max < 250e-6, "after the leap (the second half): {}", f.steady_max);
        }
    }
}
