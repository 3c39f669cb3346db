//! Positional layout of a float's shortest digits: `zmij` writes
//! `1.5e+20` or `1.0` where the line protocol has always carried
//! `150000000000000000000` and `1` (Rust's `Display`); this keeps that text,
//! so stored series and the tests pinning them do not change.

/// Appends `printed` (`zmij`'s output: an optional `-`, digits with an
/// optional `.`, an optional `e±N`) laid out without an exponent and
/// without a trailing `.0`.
pub(super) fn layout(out: &mut Vec<u8>, printed: &str) {
    let b = printed.as_bytes();
    let Some(e_at) = b.iter().position(|&c| c == b'e') else {
        // Already positional: drop a trailing `.0` (`1.0` → `1`).
        out.extend_from_slice(b.strip_suffix(b".0").unwrap_or(b));
        return;
    };
    let (mantissa, exp) = (&b[..e_at], &b[e_at + 1..]);
    let (negative, mantissa) = match mantissa.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, mantissa),
    };
    let exp = parse_exp(exp);
    // The digits, and where the decimal point falls among them.
    let mut digits = [0u8; 32];
    let mut n = 0;
    let mut point = None;
    for &c in mantissa {
        if c == b'.' {
            point = Some(n);
        } else if n < digits.len() {
            digits[n] = c;
            n += 1;
        }
    }
    let mut point = point.unwrap_or(n) as i32 + exp;
    let mut digits = &digits[..n];
    while let Some((b'0', rest)) = digits.split_first() {
        digits = rest;
        point -= 1;
    }
    while let Some((b'0', rest)) = digits.split_last() {
        digits = rest;
    }
    if negative {
        out.push(b'-');
    }
    if digits.is_empty() {
        out.push(b'0');
        return;
    }
    let len = digits.len() as i32;
    if point <= 0 {
        out.extend_from_slice(b"0.");
        out.resize(out.len() + (-point) as usize, b'0');
        out.extend_from_slice(digits);
    } else if point >= len {
        out.extend_from_slice(digits);
        out.resize(out.len() + (point - len) as usize, b'0');
    } else {
        let (int, frac) = digits.split_at(point as usize);
        out.extend_from_slice(int);
        out.push(b'.');
        out.extend_from_slice(frac);
    }
}

/// `+20`, `-7`, `20`: an f64's decimal exponent is at most three digits.
fn parse_exp(b: &[u8]) -> i32 {
    let (sign, digits) = match b.split_first() {
        Some((b'-', rest)) => (-1, rest),
        Some((b'+', rest)) => (1, rest),
        _ => (1, b),
    };
    sign * digits
        .iter()
        .fold(0i32, |acc, &d| acc * 10 + i32::from(d.wrapping_sub(b'0')))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::super::push_f64;

    fn text(v: f64) -> String {
        let mut out = Vec::new();
        push_f64(&mut out, v);
        String::from_utf8(out).unwrap_or_default()
    }

    #[test]
    fn edges_print_as_display_does() {
        for v in [
            0.0,
            -0.0,
            1.0,
            -1.0,
            0.1,
            1.5e20,
            1e21,
            1e-7,
            -2.5e-5,
            123456789012345680.0,
            f64::MAX,
            f64::MIN,
            f64::MIN_POSITIVE,
            5e-324,
            -5e-324,
            1e15,
            1e16,
            1e-5,
            1e-6,
            0.3,
            2.0f64.powi(53),
            700.0,
            82.85,
        ] {
            assert_eq!(text(v), format!("{v}"), "{v:e}");
        }
    }

    /// The same float back, in as many characters as `Display` takes; the
    /// text is `Display`'s except where the value lies exactly halfway
    /// between two shortest candidates (`597051668311438.25`): `zmij` then
    /// rounds the last digit to even (`…438.2`, as Python's `repr` does),
    /// `Display` up (`…438.3`). Both read back as the same float.
    fn same_float_as_display(v: f64) -> Result<(), TestCaseError> {
        let (ours, std) = (text(v), format!("{v}"));
        let back: f64 = ours
            .parse()
            .map_err(|e| TestCaseError::fail(format!("{ours:?}: {e}")))?;
        prop_assert_eq!(
            back.to_bits(),
            v.to_bits(),
            "{} read back as {}",
            ours,
            back
        );
        prop_assert_eq!(ours.len(), std.len(), "{} vs Display {}", ours, std);
        if ours != std {
            let (a, b) = (ours.as_bytes(), std.as_bytes());
            let last = a.len() - 1;
            prop_assert_eq!(&a[..last], &b[..last], "{} vs Display {}", ours, std);
            prop_assert_eq!(a[last].abs_diff(b[last]), 1, "{} vs Display {}", ours, std);
        }
        Ok(())
    }

    #[test]
    fn a_tie_rounds_to_even_and_reads_back_the_same() {
        let v = f64::from_bits(4828131614260292722);
        assert_eq!(text(v), "597051668311438.2");
        assert_eq!(format!("{v}"), "597051668311438.3");
        assert_eq!("597051668311438.2".parse::<f64>().ok(), Some(v));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20_000))]
        #[test]
        fn any_finite_float_reads_back_as_itself(bits in any::<u64>()) {
            let v = f64::from_bits(bits);
            prop_assume!(v.is_finite());
            same_float_as_display(v)?;
        }

        #[test]
        fn plant_values_read_back_as_themselves(v in -1.0e7f64..1.0e7, scale in -12i32..12) {
            same_float_as_display(v * 10f64.powi(scale))?;
        }

        #[test]
        fn decimals_as_a_plc_gives_them_print_as_display_does(i in any::<i32>(), div in 0u32..6) {
            // Up to ten significant digits: never a tie, so exactly Display's text.
            let v = f64::from(i) / 10f64.powi(div as i32);
            prop_assert_eq!(text(v), format!("{v}"));
        }
    }
}
