//! `ct-trace-check DIR...`: exit 0 when every trace folder deserialises into
//! CodeTracer's official schema types and replays (balanced calls, ids
//! defined before use); otherwise print the first problem and exit 1.

use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    let dirs: Vec<String> = std::env::args().skip(1).collect();
    let mut err = std::io::stderr();
    if dirs.is_empty() {
        let _ = writeln!(err, "usage: ct-trace-check TRACE_DIR...");
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
