//! `ct-trace-check DIR...`: exit 0 when every trace folder deserialises into
//! CodeTracer's official schema types and replays (balanced calls, ids
//! defined before use); otherwise print the first problem and exit 1.
//!
//! `ct-trace-check --events DIR`: prints every event of the folder's trace
//! (trace.ct, else trace.json) on stdout, one JSON line each, as the official
//! types serialise it — the same for the same events in either format.

use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    let dirs: Vec<String> = std::env::args().skip(1).collect();
    let mut err = std::io::stderr();
    if dirs.len() == 2 && dirs[0] == "--events" {
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        let r = trace_check::each_event(std::path::Path::new(&dirs[1]), |ev| {
            let line = serde_json::to_string(ev).map_err(|e| e.to_string())?;
            writeln!(out, "{line}").map_err(|e| e.to_string())
        });
        let r = r.and_then(|()| out.flush().map_err(|e| e.to_string()));
        return match r {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                let _ = writeln!(err, "{}: {e}", dirs[1]);
                ExitCode::from(1)
            }
        };
    }
    if dirs.is_empty() {
        let _ = writeln!(err, "usage: ct-trace-check TRACE_DIR... | ct-trace-check --events TRACE_DIR");
        return ExitCode::from(2);
    }
    let mut ok = true;
    for d in &dirs {
        match trace_check::check_dir(std::path::Path::new(d)) {
            Ok(s) => {
                let _ = writeln!(err, "{d}: ok ({} events, {} calls, {} steps, {} values)", s.events, s.calls, s.steps, s.values);
            }
            Err(e) => {
                let _ = writeln!(err, "{d}: {e}");
                ok = false;
            }
        }
    }
    if ok { ExitCode::SUCCESS } else { ExitCode::from(1) }
}
