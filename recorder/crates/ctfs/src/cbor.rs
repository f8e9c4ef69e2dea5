//! The CBOR payloads of split-binary events (`trace-events.md`: "Dynamic
//! payloads: 4-byte LE CBOR length prefix + CBOR bytes"): a `ValueRecord`,
//! a `TypeRecord`, a call's argument list. Their shape is the schema's
//! serde shape, the same objects trace.json holds: a map internally tagged
//! by `"kind"` (`{"kind": "Int", "i": 5, "type_id": 1}`), `Float.f` as the
//! text of the number, `BigInt.b` as base64 text.
//!
//! [`ValueEncoder`] writes them straight into the event buffer — no value
//! tree needed (the spec's "streaming value encoder"); [`Value`] is the
//! owned tree for callers that have one.

use base64::Engine as _;

/// A value of the trace (the schema's `ValueRecord`, the variants a Python
/// recording uses). `type_id`s index the trace's `Type` table.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Int { i: i64, type_id: u64 },
    Float { f: f64, type_id: u64 },
    Bool { b: bool, type_id: u64 },
    String { text: String, type_id: u64 },
    Sequence { elements: Vec<Value>, is_slice: bool, type_id: u64 },
    Tuple { elements: Vec<Value>, type_id: u64 },
    Struct { field_values: Vec<Value>, type_id: u64 },
    Raw { r: String, type_id: u64 },
    Error { msg: String, type_id: u64 },
    /// `magnitude`: big-endian bytes of the absolute value.
    BigInt { magnitude: Vec<u8>, negative: bool, type_id: u64 },
    None { type_id: u64 },
}

/// Appends CBOR items to a buffer.
pub struct ValueEncoder<'a> {
    pub out: &'a mut Vec<u8>,
}

#[inline]
fn head(out: &mut Vec<u8>, major: u8, n: u64) {
    let m = major << 5;
    if n < 24 {
        out.push(m | n as u8);
    } else if n <= 0xff {
        out.push(m | 24);
        out.push(n as u8);
    } else if n <= 0xffff {
        out.push(m | 25);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else if n <= 0xffff_ffff {
        out.push(m | 26);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    } else {
        out.push(m | 27);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

impl<'a> ValueEncoder<'a> {
    pub fn new(out: &'a mut Vec<u8>) -> Self {
        ValueEncoder { out }
    }

    #[inline]
    pub fn uint(&mut self, n: u64) {
        head(self.out, 0, n);
    }

    #[inline]
    pub fn int(&mut self, i: i64) {
        if i >= 0 {
            head(self.out, 0, i as u64);
        } else {
            head(self.out, 1, !(i as u64));
        }
    }

    #[inline]
    pub fn text(&mut self, s: &str) {
        head(self.out, 3, s.len() as u64);
        self.out.extend_from_slice(s.as_bytes());
    }

    #[inline]
    pub fn bool(&mut self, b: bool) {
        self.out.push(if b { 0xf5 } else { 0xf4 });
    }

    #[inline]
    pub fn map(&mut self, n: u64) {
        head(self.out, 5, n);
    }

    #[inline]
    pub fn array(&mut self, n: u64) {
        head(self.out, 4, n);
    }

    #[inline]
    fn tagged(&mut self, fields: u64, kind: &str, type_id: u64) {
        let k = kind.as_bytes();
        if fields < 22 && k.len() < 24 && type_id < 24 {
            // The usual case: every head one byte, written after one
            // reserve (the conversion renders a head for every changed
            // value).
            let out = &mut *self.out;
            out.reserve(16 + k.len());
            out.push(0xa0 | (fields + 2) as u8);
            out.extend_from_slice(b"\x64kind");
            out.push(0x60 | k.len() as u8);
            out.extend_from_slice(k);
            out.extend_from_slice(b"\x67type_id");
            out.push(type_id as u8);
            return;
        }
        self.map(fields + 2);
        self.text("kind");
        self.text(kind);
        self.text("type_id");
        self.uint(type_id);
    }

    pub fn int_value(&mut self, i: i64, type_id: u64) {
        if type_id < 24 {
            // The usual case (the predefined `int` type) as one copy of its
            // constant part: the conversion renders an Int for every
            // changed int.
            let mut head = *b"\xa3\x64kind\x63Int\x67type_id\x00\x61i";
            head[18] = type_id as u8;
            self.out.extend_from_slice(&head);
        } else {
            self.tagged(1, "Int", type_id);
            self.text("i");
        }
        self.int(i);
    }

    pub fn float_value(&mut self, f: f64, type_id: u64) {
        self.tagged(1, "Float", type_id);
        self.text("f");
        if f.is_nan() {
            self.text("NaN");
        } else if f.is_infinite() {
            self.text(if f > 0.0 { "inf" } else { "-inf" });
        } else {
            let mut b = ryu::Buffer::new();
            let s = b.format_finite(f);
            self.text(s);
        }
    }

    /// A `Float` whose text is already rendered (e.g. Python's `repr`);
    /// readers parse it as an f64 (`NaN`, `inf`, `-inf` included).
    pub fn float_text_value(&mut self, text: &str, type_id: u64) {
        self.tagged(1, "Float", type_id);
        self.text("f");
        self.text(text);
    }

    /// Text from bytes that should be UTF-8 (invalid sequences are
    /// replaced, as trace.json's writer does).
    #[inline]
    pub fn text_lossy(&mut self, s: &[u8]) {
        match std::str::from_utf8(s) {
            Ok(t) => self.text(t),
            Err(_) => self.text(&String::from_utf8_lossy(s)),
        }
    }

    /// Splices an already encoded CBOR item (a value encoded once and
    /// repeated, e.g. an unchanged variable in every step's snapshot).
    #[inline]
    pub fn encoded(&mut self, cbor: &[u8]) {
        self.out.extend_from_slice(cbor);
    }

    /// Head of a value of `kind` with one more field after `type_id`; the
    /// caller writes the field's key and value next (for strings given as
    /// bytes: `tagged_field("String", "text", t)` then `text_lossy`).
    pub fn tagged_field(&mut self, kind: &str, key: &str, type_id: u64) {
        self.tagged(1, kind, type_id);
        self.text(key);
    }

    pub fn bool_value(&mut self, b: bool, type_id: u64) {
        self.tagged(1, "Bool", type_id);
        self.text("b");
        self.bool(b);
    }

    pub fn string_value(&mut self, text: &str, type_id: u64) {
        self.tagged(1, "String", type_id);
        self.text("text");
        self.text(text);
    }

    pub fn raw_value(&mut self, r: &str, type_id: u64) {
        self.tagged(1, "Raw", type_id);
        self.text("r");
        self.text(r);
    }

    pub fn error_value(&mut self, msg: &str, type_id: u64) {
        self.tagged(1, "Error", type_id);
        self.text("msg");
        self.text(msg);
    }

    pub fn none_value(&mut self, type_id: u64) {
        self.tagged(0, "None", type_id);
    }

    pub fn bigint_value(&mut self, magnitude: &[u8], negative: bool, type_id: u64) {
        self.tagged(2, "BigInt", type_id);
        self.text("negative");
        self.bool(negative);
        self.text("b");
        let b64 = base64::engine::general_purpose::STANDARD.encode(magnitude);
        self.text(&b64);
    }

    /// Head of a `Sequence`; `n` values must follow.
    pub fn begin_sequence(&mut self, n: u64, is_slice: bool, type_id: u64) {
        self.tagged(2, "Sequence", type_id);
        self.text("is_slice");
        self.bool(is_slice);
        self.text("elements");
        self.array(n);
    }

    /// Head of a `Tuple`; `n` values must follow.
    pub fn begin_tuple(&mut self, n: u64, type_id: u64) {
        self.tagged(1, "Tuple", type_id);
        self.text("elements");
        self.array(n);
    }

    /// Head of a `Struct`; `n` field values must follow.
    pub fn begin_struct(&mut self, n: u64, type_id: u64) {
        self.tagged(1, "Struct", type_id);
        self.text("field_values");
        self.array(n);
    }

    /// Head of a call's argument list; `n` × [`arg`](Self::arg) + value follow.
    pub fn begin_args(&mut self, n: u64) {
        self.array(n);
    }

    /// Head of one argument (`FullValueRecord`); its value follows.
    pub fn arg(&mut self, variable_id: u64) {
        self.map(2);
        self.text("variable_id");
        self.uint(variable_id);
        self.text("value");
    }

    /// A whole value tree.
    pub fn value(&mut self, v: &Value) {
        match v {
            Value::Int { i, type_id } => self.int_value(*i, *type_id),
            Value::Float { f, type_id } => self.float_value(*f, *type_id),
            Value::Bool { b, type_id } => self.bool_value(*b, *type_id),
            Value::String { text, type_id } => self.string_value(text, *type_id),
            Value::Raw { r, type_id } => self.raw_value(r, *type_id),
            Value::Error { msg, type_id } => self.error_value(msg, *type_id),
            Value::None { type_id } => self.none_value(*type_id),
            Value::BigInt { magnitude, negative, type_id } => self.bigint_value(magnitude, *negative, *type_id),
            Value::Sequence { elements, is_slice, type_id } => {
                self.begin_sequence(elements.len() as u64, *is_slice, *type_id);
                for e in elements {
                    self.value(e);
                }
            }
            Value::Tuple { elements, type_id } => {
                self.begin_tuple(elements.len() as u64, *type_id);
                for e in elements {
                    self.value(e);
                }
            }
            Value::Struct { field_values, type_id } => {
                self.begin_struct(field_values.len() as u64, *type_id);
                for e in field_values {
                    self.value(e);
                }
            }
        }
    }

    /// A `TypeRecord`: `kind` is the schema's `TypeKind` number; `fields`
    /// (name, type id) make its `specific_info` a `Struct`, else `None`.
    pub fn type_record(&mut self, kind: u8, lang_type: &str, fields: Option<&[(&str, u64)]>) {
        self.map(3);
        self.text("kind");
        self.uint(u64::from(kind));
        self.text("lang_type");
        self.text(lang_type);
        self.text("specific_info");
        match fields {
            None => {
                self.map(1);
                self.text("kind");
                self.text("None");
            }
            Some(fields) => {
                self.map(2);
                self.text("kind");
                self.text("Struct");
                self.text("fields");
                self.array(fields.len() as u64);
                for (name, type_id) in fields {
                    self.map(2);
                    self.text("name");
                    self.text(name);
                    self.text("type_id");
                    self.uint(*type_id);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A value's head written at once is the bytes the item-by-item
    /// encoding gives.
    #[test]
    fn heads_at_once() {
        for type_id in [0, 1, 23, 24, 255, 70_000, 1 << 33] {
            for fields in [0, 1, 4, 21, 22, 30] {
                for kind in ["None", "Sequence", "A kind of 23 characters", "A kind of 24 characters."] {
                    let (mut got, mut want) = (Vec::new(), Vec::new());
                    ValueEncoder::new(&mut got).tagged(fields, kind, type_id);
                    let mut e = ValueEncoder::new(&mut want);
                    e.map(fields + 2);
                    e.text("kind");
                    e.text(kind);
                    e.text("type_id");
                    e.uint(type_id);
                    assert_eq!(got, want, "{kind} {fields} type {type_id}");
                }
            }
        }
    }

    /// An Int's one-copy head is the bytes the item-by-item encoding gives.
    #[test]
    fn int_in_one_copy() {
        let ints = [0, 1, 23, 24, 255, 256, 65_535, 65_536, 1 << 32, i64::MAX, -1, -24, -25, -256, -257, -65_537, i64::MIN];
        for type_id in [0, 1, 7, 23, 24, 255, 256, 70_000, 1 << 33] {
            for i in ints {
                let (mut got, mut want) = (Vec::new(), Vec::new());
                ValueEncoder::new(&mut got).int_value(i, type_id);
                let mut e = ValueEncoder::new(&mut want);
                e.map(3);
                e.text("kind");
                e.text("Int");
                e.text("type_id");
                e.uint(type_id);
                e.text("i");
                e.int(i);
                assert_eq!(got, want, "Int {i} type {type_id}");
            }
        }
    }
}
