//! The sync test pattern, as broadcasters check lip sync: a dark picture that flashes white,
//! and silence that beeps, at the same instants, every [`PERIOD_MS`] on the wall clock
//! (`--video sync`, `--audio sync`). The sender samples audio and video on grids that meet at
//! each second ([`super::send::grid_start`]), so the flash frame and the beep's first sample are
//! captured at the same instant. A receiver notes when it shows a flash (`video.flash_at_ms` in
//! `stats`), to be compared with when the beep is heard.

use std::time::{SystemTime, UNIX_EPOCH};

use super::frame::Frame;

/// A flash and a beep every this long.
pub const PERIOD_MS: u64 = 2000;
/// The beep's length and pitch, and its peak (-10 dBFS).
pub const BEEP_MS: u64 = 100;
const BEEP_HZ: f32 = 1000.0;
const BEEP_PEAK: f32 = 0.316;
/// The dark picture's level, and the flash's.
const DARK: u8 = 16;
const WHITE: u8 = 235;

/// Where in its period the wall clock is now, ms.
fn phase_ms(now: SystemTime) -> u64 {
    now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64) % PERIOD_MS
}

/// Draws the frame captured now: white at the top of each period (the frame on the grid's
/// tick there, within `tick_ms` of it), dark otherwise.
pub fn draw(out: &mut Frame, now: SystemTime, tick_ms: u64) {
    let v = if phase_ms(now) < tick_ms.clamp(1, PERIOD_MS) / 2 { WHITE } else { DARK };
    out.rgb.fill(v);
}

/// Fills 20 ms of audio starting now: the beep for the first [`BEEP_MS`] of each period,
/// silence otherwise. `phase` carries the tone across frames.
pub fn beep(out: &mut [i16], now: SystemTime, rate: u32, phase: &mut f32) {
    let at = phase_ms(now);
    // A frame starts on the 20 ms grid, a millisecond or two late at most.
    if at + 5 >= BEEP_MS {
        out.fill(0);
        *phase = 0.0;
        return;
    }
    let step = 2.0 * std::f32::consts::PI * BEEP_HZ / rate as f32;
    for s in out.iter_mut() {
        *s = (phase.sin() * BEEP_PEAK * 32767.0) as i16;
        *phase = (*phase + step) % (2.0 * std::f32::consts::PI);
    }
}

/// Whether `frame` is a flash: bright all over (a few pixels sampled across it).
pub fn is_flash(frame: &Frame) -> bool {
    let n = frame.rgb.len() / 3;
    if n == 0 {
        return false;
    }
    (1..=16).all(|k| {
        let i = (n * k / 17) * 3;
        frame.rgb.get(i..i + 3).is_some_and(|p| p.iter().all(|&c| c > 160))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(ms: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(1_800_000_000_000 + ms)
    }

    #[test]
    fn the_flash_is_the_frame_on_the_periods_tick_and_the_beep_starts_with_it() {
        let mut f = Frame::new(64, 48);
        draw(&mut f, at(1), 66);
        assert!(is_flash(&f));
        for ms in [66, 133, 1000, 1999] {
            draw(&mut f, at(ms), 66);
            assert!(!is_flash(&f), "{ms}");
        }
        let mut pcm = [0i16; 960];
        let mut phase = 0.0;
        beep(&mut pcm, at(2000), 48_000, &mut phase);
        assert!(pcm.iter().any(|&s| s > 9000), "the beep at -10 dBFS");
        beep(&mut pcm, at(2100), 48_000, &mut phase);
        assert!(pcm.iter().all(|&s| s == 0), "100 ms of beep, then silence");
        beep(&mut pcm, at(2080), 48_000, &mut phase);
        assert!(pcm.iter().any(|&s| s != 0), "the beep's fifth frame");
    }
}
