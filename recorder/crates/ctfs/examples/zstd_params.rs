//! Compresses the chunks of a trace.ct's `events.log` again with zstd
//! parameter sets on one thread and prints, per set, the thread's CPU
//! seconds (best of ROUNDS) and the compressed size: how the chunks'
//! parameters were chosen (docs/ctfs.md, "Compression level").
//!
//! `cargo run --release -p ctfs --example zstd_params -- trace.ct [ROUNDS] [NAME-PART]`

use std::io::Write;

use ctfs::container::ContainerReader;
use ctfs::events::ChunkReader;
use zstd::zstd_safe::{CParameter, ParamSwitch, Strategy};

fn cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|w| w.parse().ok()))
        .unwrap_or(0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let path = args.get(1).ok_or("usage: zstd_params trace.ct [ROUNDS]")?;
    let rounds: usize = args.get(2).map_or(Ok(3), |n| n.parse())?;
    let mut r = ContainerReader::open(std::path::Path::new(path))?;
    let cur = r.open_file("events.log").ok_or("no events.log")?;
    let mut chunks = Vec::new();
    let mut reader = ChunkReader::new(cur);
    while let Some(c) = reader.next_chunk()? {
        chunks.push(c.data);
    }
    let raw: usize = chunks.iter().map(Vec::len).sum();
    let mut out = std::io::stdout();
    writeln!(out, "{} chunks, {} raw bytes", chunks.len(), raw)?;
    type Set = (&'static str, Vec<CParameter>);
    let lvl = |l: i32| CParameter::CompressionLevel(l);
    let raw_lit = || CParameter::LiteralCompressionMode(ParamSwitch::Disable);
    let sets: Vec<Set> = vec![
        ("level 1 (Huffman literals)", vec![lvl(1)]),
        ("level 1, raw literals (kept)", vec![lvl(1), raw_lit()]),
        ("level 1, windowLog 20", vec![lvl(1), CParameter::WindowLog(20)]),
        ("level 1, hashLog 12", vec![lvl(1), CParameter::HashLog(12)]),
        ("level 1, hashLog 14", vec![lvl(1), CParameter::HashLog(14)]),
        ("level 1, hashLog 16", vec![lvl(1), CParameter::HashLog(16)]),
        ("level 1, minMatch 6", vec![lvl(1), CParameter::MinMatch(6)]),
        ("level 1, minMatch 7", vec![lvl(1), CParameter::MinMatch(7)]),
        ("level 1, targetLength 2", vec![lvl(1), CParameter::TargetLength(2)]),
        ("level 1, targetLength 16", vec![lvl(1), CParameter::TargetLength(16)]),
        ("level 1, raw literals, hashLog 16", vec![lvl(1), raw_lit(), CParameter::HashLog(16)]),
        ("dfast, hashLog 15, chainLog 14", vec![lvl(1), CParameter::Strategy(Strategy::ZSTD_dfast), CParameter::HashLog(15), CParameter::ChainLog(14)]),
        ("level 2 (dfast)", vec![lvl(2)]),
        ("level -1", vec![lvl(-1)]),
        ("level -3", vec![lvl(-3)]),
    ];
    let only: Option<&String> = args.get(3);
    for (name, params) in &sets {
        if only.is_some_and(|o| !name.contains(o.as_str())) {
            continue;
        }
        let mut z = zstd::bulk::Compressor::new(1)?;
        for p in params {
            z.set_parameter(*p)?;
        }
        let mut best = u64::MAX;
        let mut size = 0usize;
        let mut packed = Vec::new();
        for _ in 0..rounds {
            let t = cpu_ns();
            size = 0;
            for c in &chunks {
                packed.clear();
                packed.reserve(zstd::zstd_safe::compress_bound(c.len()));
                z.compress_to_buffer(c, &mut packed)?;
                size += packed.len();
            }
            best = best.min(cpu_ns() - t);
        }
        writeln!(out, "{name:28} cpu {:.3} s  size {:.2} MB", best as f64 / 1e9, size as f64 / 1e6)?;
    }
    Ok(())
}
