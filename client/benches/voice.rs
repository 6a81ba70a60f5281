//! Benchmark: the microphone's audio processing (`sonora`: AEC3, noise suppression, AGC2), CPU
//! time per 10 ms frame at 48 kHz mono, beside the Opus encoding of the same audio as an anchor
//! (what every call already spends on each frame). The input is 20 s of a speech-like signal
//! (noise bursts shaped like syllables, with pauses) as the far end, heard by the microphone 60 ms
//! later at half the level, with near-end bursts of its own over the second half (double talk).
//! Each configuration runs over the whole 20 s; times are per 10 ms of audio.
//!
//! `cargo bench -p termcall --features sound --bench voice`

use std::time::Instant;

use termcall::media::audio::{OpusEncoder, FRAME, RATE};
use termcall::media::echo::{far_end, Canceller};

const SECONDS: usize = 20;

/// Speech-like: bursts of filtered noise 150–300 ms long, 100–200 ms apart.
fn speechlike(seed: u32, samples: usize) -> Vec<i16> {
    let mut x = seed;
    let mut rnd = move || {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        (x >> 16) as f32 / 32768.0 - 1.0
    };
    let mut out = Vec::with_capacity(samples);
    let mut lp = 0.0f32;
    while out.len() < samples {
        let burst = (RATE as f32 * (0.15 + 0.15 * rnd().abs())) as usize;
        let pause = (RATE as f32 * (0.1 + 0.1 * rnd().abs())) as usize;
        for i in 0..burst {
            let env = (std::f32::consts::PI * i as f32 / burst as f32).sin();
            lp = 0.7 * lp + 0.3 * rnd();
            out.push((lp * env * 12_000.0) as i16);
        }
        out.extend(std::iter::repeat_n(0, pause));
    }
    out.truncate(samples);
    out
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let n = RATE as usize * SECONDS;
    let far = speechlike(7, n);
    let near = speechlike(99, n);
    let delay = RATE as usize * 60 / 1000;
    let mic: Vec<i16> = (0..n)
        .map(|i| {
            let echo = i.checked_sub(delay).map_or(0, |k| far[k] / 2);
            let own = if i > n / 2 { near[i] / 2 } else { 0 };
            echo.saturating_add(own)
        })
        .collect();
    println!("per 10 ms of 48 kHz mono audio, {SECONDS} s of it, release build");
    println!("{:<28} {:>9} {:>9} {:>9} {:>8}", "", "mean µs", "p50 µs", "p99 µs", "% core");
    let report = |name: &str, mut times: Vec<f64>| {
        let mean = times.iter().sum::<f64>() / times.len() as f64;
        let (p50, p99) = (percentile(&mut times, 0.5), percentile(&mut times, 0.99));
        println!("{name:<28} {mean:>9.1} {p50:>9.1} {p99:>9.1} {:>7.2}%", mean / 10_000.0 * 100.0);
    };
    for (name, echo, noise, gain) in [("AEC3 + NS + AGC2 (default)", true, true, true), ("AEC3 alone", true, false, false), ("noise suppression alone", false, true, false), ("AGC2 alone", false, false, true)] {
        let mut c = Canceller::with_parts(echo, noise, gain);
        let speaker = far_end().speaker();
        let mut times = Vec::with_capacity(n / FRAME * 2);
        let mut frame = [0i16; FRAME];
        for (f, m) in far.chunks_exact(FRAME).zip(mic.chunks_exact(FRAME)) {
            far_end().play(speaker, f);
            frame.copy_from_slice(m);
            let t = Instant::now();
            c.process(&mut frame);
            // One call is 20 ms: two of the module's 10 ms frames.
            let us = t.elapsed().as_secs_f64() * 1e6 / 2.0;
            times.extend([us, us]);
        }
        far_end().forget(speaker);
        report(name, times);
        if echo {
            println!("{:<28} ERLE {:?} dB (the module's own figure)", "", c.erle_db().map(|e| (e * 10.0).round() / 10.0));
        }
    }
    let mut enc = OpusEncoder::new().expect("opus");
    let mut times = Vec::new();
    let mut frame = [0i16; FRAME];
    for m in mic.chunks_exact(FRAME) {
        frame.copy_from_slice(m);
        let t = Instant::now();
        enc.encode(&frame).expect("encode");
        let us = t.elapsed().as_secs_f64() * 1e6 / 2.0;
        times.extend([us, us]);
    }
    report("anchor: Opus encode (32k)", times);
}
