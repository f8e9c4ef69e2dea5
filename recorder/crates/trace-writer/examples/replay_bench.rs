//! Replays a kept `events.bin` into one format's sink, nothing else: the
//! conversion's cost measured apart from the recording
//! (docs/performance.md, "Where the time goes (end to end to trace.ct)").
//!
//! `cargo run --release --example replay_bench -- EVENTS.bin OUT_DIR [ctfs|json] [ROUNDS]`
//! prints, per round, the replay thread's CPU seconds, the sink's stages
//! and the process's CPU; OUT_DIR holds the last round's trace.

use std::io::Write;
use std::path::PathBuf;

use serde_json::Map;
use trace_writer::Format;

fn process_cpu_seconds() -> f64 {
    let mut u = libc::rusage { ..unsafe_zeroed() };
    // SAFETY: `u` is a valid rusage for getrusage to fill.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    tv(u.ru_utime) + tv(u.ru_stime)
}

fn unsafe_zeroed() -> libc::rusage {
    // SAFETY: rusage is plain integers, valid when zeroed.
    unsafe { std::mem::zeroed() }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, events, out, rest @ ..] = args.as_slice() else {
        return Err("usage: replay_bench EVENTS.bin OUT_DIR [ctfs|json] [ROUNDS]".into());
    };
    let format = Format::parse(rest.first().map_or("ctfs", String::as_str)).ok_or("unknown format")?;
    let rounds: u32 = rest.get(1).map_or(Ok(1), |n| n.parse())?;
    let (events, out) = (PathBuf::from(events), PathBuf::from(out));
    std::fs::create_dir_all(&out)?;
    let mut stdout = std::io::stdout();
    for round in 0..rounds {
        let cpu = process_cpu_seconds();
        let wall = std::time::Instant::now();
        let stats = format.convert(&events, &out, None, None, &Map::new(), &mut |_, _| true)?.ok_or("stopped")?;
        let mut line = format!("round {round}: wall {:.3}", wall.elapsed().as_secs_f64());
        for (name, s) in &stats.stage_seconds {
            line += &format!(" {name} {s:.3}");
        }
        line += &format!(" process_cpu {:.3} values {} steps {}", process_cpu_seconds() - cpu, stats.values, stats.steps);
        writeln!(stdout, "{line}")?;
    }
    Ok(())
}
