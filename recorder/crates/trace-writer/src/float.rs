//! Floats formatted exactly like Python's `repr(float)`: the shortest digits
//! that round-trip (from `ryu`), laid out by CPython's rules — fixed notation
//! for 1e-4 <= |x| < 1e16, otherwise `d.ddde+XX`; `nan`/`inf` spelled as the
//! trace schema expects (`NaN`, `inf`, `-inf`: parseable by Rust's `f64`).

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
    use super::write_python_float;

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
}
