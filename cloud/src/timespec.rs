//! Points in time as people and URLs write them: RFC 3339 (`2026-12-03T12:00:00Z`,
//! `2026-12-03T13:00:00.250+01:00`), relative (`now`, `10 min ago`, `90s ago`, `1.5 h ago`,
//! `2 days ago`) and Unix milliseconds (`1796299200000`, what the viewer's URLs carry).
//!
//! Everything is µs since the Unix epoch (UTC), like the wire format's capture times.

/// Why a time could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "cannot read {input:?} as a time: {reason} (write RFC 3339 such as 2026-12-03T12:00:00Z, \
     a relative time such as \"10 min ago\" or \"now\", or Unix milliseconds)"
)]
pub struct TimeError {
    input: String,
    reason: &'static str,
}

fn err(input: &str, reason: &'static str) -> TimeError {
    TimeError {
        input: input.chars().take(80).collect(),
        reason,
    }
}

/// Reads `text` as a point in time, relative forms counted back from `now_us`.
pub fn parse(text: &str, now_us: u64) -> Result<u64, TimeError> {
    let t = text.trim();
    if t.is_empty() {
        return Err(err(text, "empty"));
    }
    if t.eq_ignore_ascii_case("now") {
        return Ok(now_us);
    }
    if let Some(ago) = t
        .strip_suffix(" ago")
        .or_else(|| t.strip_suffix("ago"))
        .or_else(|| t.strip_suffix("-ago"))
    {
        let us = parse_duration(ago.trim()).ok_or_else(|| err(text, "unknown duration"))?;
        return now_us
            .checked_sub(us)
            .ok_or_else(|| err(text, "before 1970"));
    }
    if t.bytes().all(|b| b.is_ascii_digit()) {
        let ms: u64 = t.parse().map_err(|_| err(text, "number too large"))?;
        return ms
            .checked_mul(1000)
            .ok_or_else(|| err(text, "number too large"));
    }
    parse_rfc3339(t).ok_or_else(|| err(text, "not RFC 3339"))
}

/// `10 min`, `90s`, `1.5 h`, `2 days`: µs.
fn parse_duration(s: &str) -> Option<u64> {
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().ok()?;
    let unit_s: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "ms" | "millisecond" | "milliseconds" => 1e-3,
        "s" | "sec" | "secs" | "second" | "seconds" => 1.0,
        "m" | "min" | "mins" | "minute" | "minutes" => 60.0,
        "h" | "hr" | "hrs" | "hour" | "hours" => 3600.0,
        "d" | "day" | "days" => 86_400.0,
        _ => return None,
    };
    let us = n * unit_s * 1e6;
    (us.is_finite() && (0.0..1e18).contains(&us)).then_some(us.round() as u64)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (the "days from civil" algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// (year, month, day) of a day count since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)` (a space may replace the `T`).
fn parse_rfc3339(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let part = b.get(r)?;
        part.iter()
            .all(u8::is_ascii_digit)
            .then(|| std::str::from_utf8(part).ok()?.parse().ok())?
    };
    let sep = |i: usize, c: &[u8]| b.get(i).is_some_and(|x| c.contains(x));
    if !(sep(4, b"-") && sep(7, b"-") && sep(10, b"Tt ") && sep(13, b":") && sep(16, b":")) {
        return None;
    }
    let (y, mo, d) = (i64::from(num(0..4)?), num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || d == 0 || d > days_in_month(y, mo) || h > 23 || mi > 59 {
        return None;
    }
    // A leap second reads as the last µs of its minute.
    let sec = sec.min(59);
    let mut i = 19;
    let mut frac_us = 0u64;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return None;
        }
        let digits = &s[start..i.min(start + 6)];
        frac_us = digits.parse::<u64>().ok()? * 10u64.pow(6 - digits.len() as u32);
    }
    let offset_s: i64 = match b.get(i)? {
        b'Z' | b'z' if i + 1 == b.len() => 0,
        &c @ (b'+' | b'-') if b.len() == i + 6 && b[i + 3] == b':' => {
            let (oh, om) = (num(i + 1..i + 3)?, num(i + 4..i + 6)?);
            if oh > 23 || om > 59 {
                return None;
            }
            let o = i64::from(oh * 3600 + om * 60);
            if c == b'+' { o } else { -o }
        }
        _ => return None,
    };
    let secs = days_from_civil(y, mo, d) * 86_400 + i64::from(h * 3600 + mi * 60 + sec) - offset_s;
    u64::try_from(secs)
        .ok()?
        .checked_mul(1_000_000)?
        .checked_add(frac_us)
}

/// RFC 3339 in UTC with milliseconds, e.g. `2026-12-03T12:00:00.250Z`.
pub fn format(us: u64) -> String {
    let secs = (us / 1_000_000) as i64;
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        us % 1_000_000 / 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_796_299_200_000_000; // 2026-12-03T12:00:00Z

    #[test]
    fn rfc3339_in_utc_and_with_offsets() {
        assert_eq!(parse("2026-12-03T12:00:00Z", 0), Ok(NOW));
        assert_eq!(parse("2026-12-03 13:00:00+01:00", 0), Ok(NOW));
        assert_eq!(parse("2026-12-03T11:30:00.25-00:30", 0), Ok(NOW + 250_000));
        assert_eq!(parse("1970-01-01T00:00:00.000001Z", 0), Ok(1));
        assert_eq!(parse("2024-02-29T00:00:00Z", 0), Ok(1_709_164_800_000_000));
        for bad in [
            "2026-02-29T00:00:00Z",
            "2026-12-03T24:00:00Z",
            "2026-12-03T12:00:00",
            "2026-12-03T12:00:00.Z",
            "2026-12-03T12:00:00+0100",
            "1969-12-31T23:59:59Z",
            "2026-13-01T00:00:00Z",
            "yesterday",
            "",
        ] {
            assert!(parse(bad, NOW).is_err(), "{bad}");
        }
    }

    #[test]
    fn relative_forms_and_milliseconds() {
        assert_eq!(parse("now", NOW), Ok(NOW));
        assert_eq!(parse("10 min ago", NOW), Ok(NOW - 600_000_000));
        assert_eq!(parse("90s ago", NOW), Ok(NOW - 90_000_000));
        assert_eq!(parse("1.5 h ago", NOW), Ok(NOW - 5_400_000_000));
        assert_eq!(parse(" 2 days ago ", NOW), Ok(NOW - 172_800_000_000));
        assert_eq!(parse("1796299200000", 0), Ok(NOW));
        assert!(parse("10 fortnights ago", NOW).is_err());
        assert!(parse("-5 min ago", NOW).is_err());
        let e = parse("99999999999 days ago", NOW).unwrap_err().to_string();
        assert!(e.contains("RFC 3339"), "{e}");
    }

    #[test]
    fn formatting_round_trips() {
        assert_eq!(format(NOW + 250_000), "2026-12-03T12:00:00.250Z");
        for us in [0, 1_000, 951_782_400_123_000, NOW, 4_102_444_799_999_000] {
            assert_eq!(parse(&format(us), 0), Ok(us));
        }
    }
}
