//! Floats formatted exactly like Python's `repr(float)`: the shortest digits
//! that round-trip (from `ryu`), laid out by CPython's rules — fixed notation
//! for 1e-4 <= |x| < 1e16, otherwise `d.ddde+XX`; `nan`/`inf` spelled as the
//! trace schema expects (`NaN`, `inf`, `-inf`: parseable by Rust's `f64`).

/// Renderings of recently seen floats, keyed by their bits and type id: a
/// step's snapshot repeats most of the previous one (a list patched in one
/// element is rendered again whole), so the same floats come back over and
/// over, and their text (`ryu` plus Python's layout) is the costly part of a
/// value's rendering. Direct-mapped: a slot holds the last float that hashed
/// to it; a miss renders and takes the slot.
pub struct FloatCache {
    slots: Box<[Slot]>,
}

/// Bytes a rendering may have to be kept (a Float record with the longest
/// repr, `-1.7976931348623157e+308`, and a large type id, fits).
const SLOT_BYTES: usize = 62;
const SLOTS_LOG2: u32 = 10;

#[derive(Clone, Copy)]
struct Slot {
    bits: u64,
    type_id: u32,
    /// 0: empty (no rendering is empty).
    len: u8,
    bytes: [u8; SLOT_BYTES],
}

impl Default for FloatCache {
    fn default() -> Self {
        let empty = Slot { bits: 0, type_id: 0, len: 0, bytes: [0; SLOT_BYTES] };
        FloatCache { slots: vec![empty; 1 << SLOTS_LOG2].into_boxed_slice() }
    }
}

impl FloatCache {
    /// Appends the rendering of float `f` of type `type_id`: the cached one,
    /// or what `render` appends (then cached). `render` must depend only on
    /// `f`'s bits and `type_id`.
    #[inline]
    pub fn render(&mut self, f: f64, type_id: u32, out: &mut Vec<u8>, render: impl FnOnce(f64, u32, &mut Vec<u8>)) {
        let bits = f.to_bits();
        let h = (bits ^ (bits >> 32) ^ u64::from(type_id).rotate_left(17)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let i = (h >> (64 - SLOTS_LOG2)) as usize;
        let Some(slot) = self.slots.get_mut(i) else { return render(f, type_id, out) };
        if slot.len != 0 && slot.bits == bits && slot.type_id == type_id {
            out.extend_from_slice(&slot.bytes[..usize::from(slot.len)]);
            return;
        }
        let start = out.len();
        render(f, type_id, out);
        let new = &out[start..];
        if let Some(dest) = slot.bytes.get_mut(..new.len()) {
            dest.copy_from_slice(new);
            slot.bits = bits;
            slot.type_id = type_id;
            slot.len = new.len() as u8;
        }
    }
}

/// Appends the text of `f`.
pub fn write_python_float(f: f64, out: &mut Vec<u8>) {
    if f.is_nan() {
        out.extend_from_slice(b"NaN");
        return;
    }
    if f.is_infinite() {
        out.extend_from_slice(if f < 0.0 { b"-inf" } else { b"inf" });
        return;
    }
    if f.is_sign_negative() {
        out.push(b'-');
    }
    let mut buf = ryu::Buffer::new();
    let text = buf.format_finite(f.abs()).as_bytes();
    // Split ryu's text into significant digits and a decimal exponent:
    // value = 0.DIGITS * 10^decpt.
    let (mantissa, exp) = match text.iter().position(|&c| c == b'e') {
        Some(i) => (&text[..i], parse_exp(&text[i + 1..])),
        None => (text, 0),
    };
    let mut digits = [0u8; 32];
    let mut n = 0usize;
    let mut int_len: i32 = 0;
    let mut seen_dot = false;
    let mut leading = true;
    for &c in mantissa {
        if c == b'.' {
            seen_dot = true;
            continue;
        }
        if leading && c == b'0' {
            if seen_dot {
                int_len -= 1;
            }
            continue;
        }
        leading = false;
        if !seen_dot {
            int_len += 1;
        }
        if n < digits.len() {
            digits[n] = c;
            n += 1;
        }
    }
    while n > 1 && digits[n - 1] == b'0' {
        n -= 1;
    }
    if n == 0 {
        out.extend_from_slice(b"0.0");
        return;
    }
    let digits = &digits[..n];
    let decpt = int_len + exp;
    if decpt <= -4 || decpt > 16 {
        out.push(digits[0]);
        if n > 1 {
            out.push(b'.');
            out.extend_from_slice(&digits[1..]);
        }
        let e = decpt - 1;
        out.push(b'e');
        out.push(if e < 0 { b'-' } else { b'+' });
        let a = e.unsigned_abs();
        if a < 10 {
            out.push(b'0');
        }
        out.extend_from_slice(itoa::Buffer::new().format(a).as_bytes());
    } else if decpt <= 0 {
        out.extend_from_slice(b"0.");
        out.extend(std::iter::repeat_n(b'0', decpt.unsigned_abs() as usize));
        out.extend_from_slice(digits);
    } else if decpt as usize >= n {
        out.extend_from_slice(digits);
        out.extend(std::iter::repeat_n(b'0', decpt as usize - n));
        out.extend_from_slice(b".0");
    } else {
        out.extend_from_slice(&digits[..decpt as usize]);
        out.push(b'.');
        out.extend_from_slice(&digits[decpt as usize..]);
    }
}

fn parse_exp(s: &[u8]) -> i32 {
    let (neg, s) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let mut v: i32 = 0;
    for &c in s {
        v = v * 10 + i32::from(c.wrapping_sub(b'0'));
    }
    if neg {
        -v
    } else {
        v
    }
}

#[cfg(test)]
mod tests {
    use super::{write_python_float, FloatCache};

    fn fmt(f: f64) -> String {
        let mut out = Vec::new();
        write_python_float(f, &mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn matches_python_repr() {
        // Expected strings are CPython's repr() of the same floats.
        let cases: &[(f64, &str)] = &[
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1.0, "1.0"),
            (3.5, "3.5"),
            (-2.25, "-2.25"),
            (0.1, "0.1"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (123456789012345680.0, "1.2345678901234568e+17"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (1e100, "1e+100"),
            (5e-324, "5e-324"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (39.47841760435743, "39.47841760435743"),
            (100.0, "100.0"),
            (0.30000000000000004, "0.30000000000000004"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
        ];
        for (f, want) in cases {
            assert_eq!(fmt(*f), *want, "{f:e}");
            if f.is_finite() {
                assert_eq!(fmt(*f).parse::<f64>().map(f64::to_bits), Ok(f.to_bits()));
            }
        }
    }

    fn cached(cache: &mut FloatCache, f: f64, type_id: u32) -> (Vec<u8>, bool) {
        let mut out = b"head".to_vec();
        let mut rendered = false;
        cache.render(f, type_id, &mut out, |f, t, out| {
            rendered = true;
            out.extend_from_slice(format!("{t}:").as_bytes());
            write_python_float(f, out);
        });
        (out[4..].to_vec(), rendered)
    }

    #[test]
    fn cache_gives_what_rendering_gives() {
        let mut cache = FloatCache::default();
        // A float seen again is not rendered again, and reads the same.
        assert_eq!(cached(&mut cache, 0.1, 2), (b"2:0.1".to_vec(), true));
        assert_eq!(cached(&mut cache, 0.1, 2), (b"2:0.1".to_vec(), false));
        // A float that changed is rendered anew (one bit apart included).
        let next = f64::from_bits(0.1f64.to_bits() + 1);
        assert_eq!(cached(&mut cache, next, 2), (b"2:0.10000000000000002".to_vec(), true));
        // Equal numbers, different bits or types: each its own rendering.
        assert_eq!(cached(&mut cache, -0.0, 2), (b"2:-0.0".to_vec(), true));
        assert_eq!(cached(&mut cache, 0.0, 2), (b"2:0.0".to_vec(), true));
        assert_eq!(cached(&mut cache, 0.1, 40), (b"40:0.1".to_vec(), true));
        assert_eq!(cached(&mut cache, 0.1, 2).0, b"2:0.1".to_vec());
        // Many floats through few slots: whatever is evicted, the bytes hold.
        for round in 0..2 {
            for i in 0..5000u32 {
                let f = f64::from(i) * 1.37;
                let mut want = format!("{}:", i % 3).into_bytes();
                write_python_float(f, &mut want);
                assert_eq!(cached(&mut cache, f, i % 3).0, want, "round {round} i {i}");
            }
        }
        // A rendering too long to keep is still given whole.
        let mut out = Vec::new();
        for _ in 0..2 {
            out.clear();
            cache.render(1.5, 7, &mut out, |_, _, out| out.extend_from_slice(&[b'x'; 100]));
            assert_eq!(out, vec![b'x'; 100]);
        }
    }
}
