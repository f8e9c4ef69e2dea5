//! Replays a kept `events.bin` into one format's sink, nothing else: the
//! conversion's cost measured apart from the recording
//! (docs/performance.md, "Where the time goes (end to end to trace.ct)").
//!
//! `cargo run --release --example replay_bench -- EVENTS.bin OUT_DIR [ctfs|json] [ROUNDS]`
//! prints, per round, the wall time, the replay thread's CPU seconds and the
//! sink's stages (zstd's); OUT_DIR holds the last round's trace.

use std::io::Write;
use std::path::PathBuf;

use serde_json::Map;
use trace_writer::Format;

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
        let wall = std::time::Instant::now();
        let stats = format.convert(&events, &out, None, None, &Map::new(), &mut |_, _| true)?.ok_or("stopped")?;
        let mut line = format!("round {round}: wall {:.3}", wall.elapsed().as_secs_f64());
        for (name, s) in &stats.stage_seconds {
            line += &format!(" {name} {s:.3}");
        }
        line += &format!(" values {} steps {}", stats.values, stats.steps);
        writeln!(stdout, "{line}")?;
    }
    Ok(())
}
