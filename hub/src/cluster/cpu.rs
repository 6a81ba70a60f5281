//! The hub process's own CPU use, for its heartbeat's load.

use std::time::Instant;

/// Reads `/proc/self/stat` between calls.
pub struct CpuMeter {
    last: Option<(Instant, u64)>,
}

impl CpuMeter {
    pub fn new() -> Self {
        CpuMeter { last: ticks().map(|t| (Instant::now(), t)) }
    }

    /// Percent of one core used since the last call (0 where /proc is not there).
    pub fn percent(&mut self) -> f32 {
        let (Some(now_ticks), Some((then, then_ticks))) = (ticks(), self.last) else { return 0.0 };
        let now = Instant::now();
        self.last = Some((now, now_ticks));
        let secs = now.duration_since(then).as_secs_f32();
        if secs <= 0.0 {
            return 0.0;
        }
        // SAFETY: sysconf only reads a system constant.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f32;
        now_ticks.saturating_sub(then_ticks) as f32 / hz / secs * 100.0
    }
}

impl Default for CpuMeter {
    fn default() -> Self {
        Self::new()
    }
}

/// User and system time of this process, in clock ticks.
fn ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name is in parentheses and may hold spaces: count fields after it.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burning_cpu_shows() {
        // Spin until the process has used 100 ms of CPU (however long that takes on a loaded
        // machine): what the meter says is then above nothing, and no more than the cores give.
        let mut meter = CpuMeter::new();
        let start = ticks().unwrap();
        let mut x = 0u64;
        let deadline = Instant::now() + std::time::Duration::from_secs(10);
        while ticks().unwrap() < start + 10 && Instant::now() < deadline {
            for _ in 0..100_000 {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
            }
        }
        std::hint::black_box(x);
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f32;
        let p = meter.percent();
        assert!(p > 0.5 && p <= cores * 100.0 + 10.0, "{p}% while spinning");
        assert!(meter.percent() >= 0.0);
    }
}
