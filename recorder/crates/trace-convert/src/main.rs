//! `ct-trace-convert IN_DIR OUT_DIR`: writes OUT_DIR/trace.ct holding the
//! trace of IN_DIR (trace.json + trace_metadata.json). Exit 0 on success,
//! 2 on bad usage, else the error's exit code, with the error on stderr.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut err = std::io::stderr();
    if args.len() != 2 {
        let _ = writeln!(err, "usage: ct-trace-convert TRACE_JSON_DIR OUT_DIR");
        return ExitCode::from(2);
    }
    match trace_convert::convert_dir(Path::new(&args[0]), Path::new(&args[1])) {
        Ok(s) => {
            let _ = writeln!(err, "{}/trace.ct: {} events, {} steps, {} bytes", args[1], s.events, s.steps, s.bytes);
            ExitCode::SUCCESS
        }
        Err(e) => {
            let _ = writeln!(err, "ct-trace-convert: {e}");
            ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(1))
        }
    }
}
