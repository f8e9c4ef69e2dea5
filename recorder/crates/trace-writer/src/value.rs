//! Values in the compact stream: their encoding, and how it is skipped and
//! patched. Nothing here knows a trace format: each sink renders values in
//! its own encoding (`Sink::render`).
//!
//! A value is one tag byte, its type id, and a payload. Containers hold their
//! elements inline. The capture side writes these with the `put_*` helpers.

use crate::stream::{put_str, put_varint, zigzag, ReadError, ReadResult, StreamReader};

pub mod vtag {
    pub const NONE: u8 = 0;
    pub const FALSE: u8 = 1;
    pub const TRUE: u8 = 2;
    pub const INT: u8 = 3;
    pub const BIGINT: u8 = 4;
    pub const FLOAT: u8 = 5;
    pub const STR: u8 = 6;
    pub const SEQ: u8 = 7;
    pub const TUPLE: u8 = 8;
    pub const STRUCT: u8 = 9;
    pub const RAW: u8 = 10;
    pub const ERROR: u8 = 11;
    /// `object_id`: the encoding an `OBJ` / `OBJ_PATCH` record last gave
    /// the object. Only a whole variable or argument value is one (never
    /// an element), and the converter resolves it when it reads the record.
    pub const OBJ: u8 = 12;
}

/// CodeTracer's `TypeKind` numbers (order of the enum in the schema crate).
pub mod kind {
    pub const SEQ: u8 = 0;
    pub const SET: u8 = 1;
    pub const STRUCT: u8 = 6;
    pub const INT: u8 = 7;
    pub const FLOAT: u8 = 8;
    pub const STRING: u8 = 9;
    pub const BOOL: u8 = 12;
    pub const RAW: u8 = 16;
    pub const ERROR: u8 = 24;
    pub const TUPLE: u8 = 27;
    pub const NONE: u8 = 30;
    pub const NON_EXPANDED: u8 = 31;
    pub const ANY: u8 = 32;
}

/// Types every recording defines first, in this order (TypeId = index).
pub mod types {
    pub const NONE: u32 = 0;
    pub const INT: u32 = 1;
    pub const FLOAT: u32 = 2;
    pub const BOOL: u32 = 3;
    pub const STR: u32 = 4;
    pub const BYTES: u32 = 5;
    pub const LIST: u32 = 6;
    pub const TUPLE: u32 = 7;
    pub const DICT: u32 = 8;
    pub const SET: u32 = 9;
    pub const FROZENSET: u32 = 10;
    pub const OBJECT: u32 = 11;
    pub const ELIDED: u32 = 12;
    pub const ERROR: u32 = 13;
    pub const EXCEPTION: u32 = 14;

    /// (kind, lang_type) of the predefined types.
    pub const PREDEFINED: &[(u8, &str)] = &[
        (super::kind::NONE, "None"),
        (super::kind::INT, "int"),
        (super::kind::FLOAT, "float"),
        (super::kind::BOOL, "bool"),
        (super::kind::STRING, "str"),
        (super::kind::RAW, "bytes"),
        (super::kind::SEQ, "list"),
        (super::kind::TUPLE, "tuple"),
        (super::kind::SEQ, "dict"),
        (super::kind::SET, "set"),
        (super::kind::SET, "frozenset"),
        (super::kind::ANY, "object"),
        (super::kind::NON_EXPANDED, "..."),
        (super::kind::ERROR, "<unreadable>"),
        (super::kind::ERROR, "BaseException"),
    ];
}

#[inline]
pub fn put_none(buf: &mut Vec<u8>) {
    buf.push(vtag::NONE);
}

/// A reference to an object's current encoding (see `vtag::OBJ`).
#[inline]
pub fn put_obj_ref(buf: &mut Vec<u8>, object_id: u32) {
    buf.push(vtag::OBJ);
    put_varint(buf, u64::from(object_id));
}

#[inline]
pub fn put_bool(buf: &mut Vec<u8>, type_id: u32, b: bool) {
    buf.push(if b { vtag::TRUE } else { vtag::FALSE });
    put_varint(buf, u64::from(type_id));
}

#[inline]
pub fn put_int(buf: &mut Vec<u8>, type_id: u32, i: i64) {
    buf.push(vtag::INT);
    put_varint(buf, u64::from(type_id));
    put_varint(buf, zigzag(i));
}

/// `magnitude`: big-endian bytes of the absolute value.
pub fn put_bigint(buf: &mut Vec<u8>, type_id: u32, negative: bool, magnitude: &[u8]) {
    buf.push(vtag::BIGINT);
    put_varint(buf, u64::from(type_id));
    buf.push(u8::from(negative));
    put_str(buf, magnitude);
}

#[inline]
pub fn put_float(buf: &mut Vec<u8>, type_id: u32, f: f64) {
    buf.push(vtag::FLOAT);
    put_varint(buf, u64::from(type_id));
    buf.extend_from_slice(&f.to_le_bytes());
}

#[inline]
pub fn put_string(buf: &mut Vec<u8>, type_id: u32, text: &[u8]) {
    buf.push(vtag::STR);
    put_varint(buf, u64::from(type_id));
    put_str(buf, text);
}

/// Head of a container (`vtag::SEQ`, `TUPLE` or `STRUCT`); `n` values follow.
#[inline]
pub fn put_container_head(buf: &mut Vec<u8>, vtag: u8, type_id: u32, n: u32) {
    buf.push(vtag);
    put_varint(buf, u64::from(type_id));
    put_varint(buf, u64::from(n));
}

/// Rewrites the element count of a container whose head starts at `at`
/// (written with a one-byte count placeholder when fewer than 128 elements
/// were announced). Returns false when the count no longer fits in place.
pub fn patch_small_count(buf: &mut [u8], count_at: usize, n: u32) -> bool {
    if n < 0x80 {
        if let Some(b) = buf.get_mut(count_at) {
            *b = n as u8;
            return true;
        }
    }
    false
}

#[inline]
pub fn put_raw(buf: &mut Vec<u8>, type_id: u32, text: &[u8]) {
    buf.push(vtag::RAW);
    put_varint(buf, u64::from(type_id));
    put_str(buf, text);
}

#[inline]
pub fn put_error(buf: &mut Vec<u8>, type_id: u32, msg: &[u8]) {
    buf.push(vtag::ERROR);
    put_varint(buf, u64::from(type_id));
    put_str(buf, msg);
}

/// Skips one value.
pub fn skip(r: &mut StreamReader<'_>, depth: u32) -> ReadResult<()> {
    if depth > 256 {
        return Err(ReadError::Corrupt);
    }
    match r.u8()? {
        vtag::NONE => Ok(()),
        vtag::FALSE | vtag::TRUE => r.varint().map(|_| ()),
        vtag::INT => {
            r.varint()?;
            r.varint().map(|_| ())
        }
        vtag::BIGINT => {
            r.varint()?;
            r.u8()?;
            r.str().map(|_| ())
        }
        vtag::FLOAT => {
            r.varint()?;
            r.bytes(8).map(|_| ())
        }
        vtag::STR | vtag::RAW | vtag::ERROR => {
            r.varint()?;
            r.str().map(|_| ())
        }
        vtag::SEQ | vtag::TUPLE | vtag::STRUCT => {
            r.varint()?;
            let n = r.varint()?;
            for _ in 0..n {
                skip(r, depth + 1)?;
            }
            Ok(())
        }
        _ => Err(ReadError::Corrupt),
    }
}

/// The byte range of the node at `path` inside the encoded value `v`
/// (child indices from the root; see `tag::PATCH`).
pub fn locate(v: &[u8], path: &[u32]) -> ReadResult<std::ops::Range<usize>> {
    let mut r = StreamReader::records(v);
    for &child in path {
        match r.u8()? {
            vtag::SEQ | vtag::TUPLE | vtag::STRUCT => {
                r.varint()?;
                if u64::from(child) >= r.varint()? {
                    return Err(ReadError::Corrupt);
                }
                for _ in 0..child {
                    skip(&mut r, 1)?;
                }
            }
            _ => return Err(ReadError::Corrupt),
        }
    }
    let start = r.pos();
    skip(&mut r, 0)?;
    Ok(start..r.pos())
}

/// Applies `n` PATCH edits (`path_len, child_index*, value` each; see
/// `tag::PATCH`) read from `r` to the encoded value `v`.
pub fn apply_patches(v: &mut Vec<u8>, n: u64, r: &mut StreamReader<'_>) -> ReadResult<()> {
    let mut path = Vec::new();
    for _ in 0..n {
        path.clear();
        let len = r.varint()?;
        for _ in 0..len {
            path.push(r.id()?);
        }
        let start = r.pos();
        skip(r, 0)?;
        let leaf = &r.data()[start..r.pos()];
        let range = locate(v, &path)?;
        v.splice(range, leaf.iter().copied());
    }
    Ok(())
}

/// Skips `n` PATCH edits (to check a record is whole before applying it).
pub fn skip_patches(r: &mut StreamReader<'_>, n: u64) -> ReadResult<()> {
    for _ in 0..n {
        let len = r.varint()?;
        for _ in 0..len {
            r.varint()?;
        }
        skip(r, 0)?;
    }
    Ok(())
}
