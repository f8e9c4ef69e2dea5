//! Values of the compact stream rendered as the CBOR `ValueRecord`s of a
//! CTFS trace (`ctfs` crate) — the counterpart of [`crate::value::write_json`],
//! value for value: same kinds, same type ids, same float text, invalid
//! UTF-8 replaced the same way. For the replay stage's CTFS sink.

use ctfs::ValueEncoder;

use crate::float::write_python_float;
use crate::stream::{unzigzag, ReadError, ReadResult, StreamReader};
use crate::value::vtag;

/// Reads one value (not an `OBJ` reference: resolve those first, as for
/// JSON) and appends its CBOR to `out`.
pub fn write_cbor(r: &mut StreamReader<'_>, out: &mut Vec<u8>, depth: u32) -> ReadResult<()> {
    if depth > 256 {
        return Err(ReadError::Corrupt);
    }
    let tag = r.u8()?;
    let mut e = ValueEncoder::new(out);
    if tag == vtag::NONE {
        e.none_value(0);
        return Ok(());
    }
    let type_id = r.varint()?;
    match tag {
        vtag::FALSE | vtag::TRUE => e.bool_value(tag == vtag::TRUE, type_id),
        vtag::INT => e.int_value(unzigzag(r.varint()?), type_id),
        vtag::BIGINT => {
            let negative = r.u8()? != 0;
            let magnitude = r.str()?;
            e.bigint_value(magnitude, negative, type_id);
        }
        vtag::FLOAT => {
            let raw = r.bytes(8)?;
            let mut le = [0u8; 8];
            le.copy_from_slice(raw);
            let mut text = Vec::with_capacity(24);
            write_python_float(f64::from_le_bytes(le), &mut text);
            e.tagged_field("Float", "f", type_id);
            e.text_lossy(&text);
        }
        vtag::STR | vtag::RAW | vtag::ERROR => {
            let (kind, key) = match tag {
                vtag::STR => ("String", "text"),
                vtag::RAW => ("Raw", "r"),
                _ => ("Error", "msg"),
            };
            e.tagged_field(kind, key, type_id);
            e.text_lossy(r.str()?);
        }
        vtag::SEQ | vtag::TUPLE | vtag::STRUCT => {
            let n = r.varint()?;
            match tag {
                vtag::SEQ => e.begin_sequence(n, false, type_id),
                vtag::TUPLE => e.begin_tuple(n, type_id),
                _ => e.begin_struct(n, type_id),
            }
            for _ in 0..n {
                write_cbor(r, out, depth + 1)?;
            }
        }
        _ => return Err(ReadError::Corrupt),
    }
    Ok(())
}
