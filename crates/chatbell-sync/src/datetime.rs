//! Dataverse's date-times (`2026-11-21T10:15:00Z`, ISO 8601 / RFC 3339) to and from
//! the core's [`Ts`] (milliseconds since the Unix epoch, UTC).

use chatbell_core::Ts;

/// Reads an HTTP `Date` (RFC 9110's IMF-fixdate: `Wed, 02 Dec 2026 06:45:56 GMT`).
pub fn parse_http_date(s: &str) -> Option<Ts> {
    let parts: Vec<&str> = s.split_whitespace().collect();
    let [_, day, month, year, time, "GMT"] = parts.as_slice() else {
        return None;
    };
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let m = MONTHS.iter().position(|x| x == month)? + 1;
    if day.len() != 2 || year.len() != 4 || time.len() != 8 {
        return None;
    }
    parse(&format!("{year}-{m:02}-{day}T{time}Z"))
}

/// Reads `YYYY-MM-DDTHH:MM:SS[.fff...](Z|±HH:MM)`. `None` for anything else.
pub fn parse(s: &str) -> Option<Ts> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<i64> {
        let part = s.get(from..to)?;
        if !part.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        part.parse().ok()
    };
    let (year, month, day) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (hour, minute, second) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut rest = &s[19..];
    let mut millis = 0i64;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        for (i, c) in frac.bytes().take(digits).enumerate() {
            if i < 3 {
                millis = millis * 10 + i64::from(c - b'0');
            }
        }
        for _ in digits..3 {
            millis *= 10;
        }
        rest = &frac[digits..];
    }
    let offset_minutes = match rest {
        "Z" | "z" => 0,
        _ => {
            let rb = rest.as_bytes();
            if rb.len() != 6 || rb[3] != b':' {
                return None;
            }
            let sign = match rb[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let h = num_of(&rest[1..3])?;
            let m = num_of(&rest[4..6])?;
            if h > 23 || m > 59 {
                return None;
            }
            sign * (h * 60 + m)
        }
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
    Some(Ts(secs * 1000 + millis))
}

fn num_of(s: &str) -> Option<i64> {
    if s.bytes().all(|c| c.is_ascii_digit()) {
        s.parse().ok()
    } else {
        None
    }
}

/// Writes `YYYY-MM-DDTHH:MM:SSZ`, to the second (what `$filter` literals and
/// Dataverse's own `modifiedon` carry). Sub-second parts are truncated.
pub fn format(ts: Ts) -> String {
    let secs = ts.0.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(y) => 29,
        _ => 28,
    }
}

// Howard Hinnant's days_from_civil / civil_from_days.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_an_http_date() {
        assert_eq!(
            parse_http_date("Wed, 02 Dec 2026 06:45:56 GMT"),
            parse("2026-12-02T06:45:56Z")
        );
        assert_eq!(parse_http_date("Wed, 2 Dec 2026 06:45:56 GMT"), None);
        assert_eq!(parse_http_date("2026-12-02T06:45:56Z"), None);
    }

    #[test]
    fn reads_and_writes_dataverse_datetimes() {
        let t = parse("2026-11-21T10:15:00Z").expect("valid");
        assert_eq!(t, Ts(1_795_256_100_000));
        assert_eq!(format(t), "2026-11-21T10:15:00Z");
        assert_eq!(parse("1970-01-01T00:00:00Z"), Some(Ts(0)));
        assert_eq!(
            parse("2026-11-21T10:15:00.25Z"),
            Some(Ts(1_795_256_100_250))
        );
        assert_eq!(parse("2026-11-21T11:15:00+01:00"), Some(t));
        assert_eq!(
            parse("2024-02-29T00:00:00Z").map(format).as_deref(),
            Some("2024-02-29T00:00:00Z")
        );
    }

    #[test]
    fn refuses_what_is_not_a_datetime() {
        for bad in [
            "",
            "2026-11-21",
            "2026-13-01T00:00:00Z",
            "2025-02-29T00:00:00Z",
            "2026-11-21T24:00:00Z",
            "2026-11-21T10:15:00",
            "2026-11-21T10:15:00.Z",
            "2026-11-21T10:15:00+1:00",
            "２０２６-11-21T10:15:00Z",
            "2026-11-21T10:15:00Zjunk",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn round_trips_whole_seconds_over_centuries() {
        let mut t = Ts(-5_000_000_000_000);
        while t.0 < 10_000_000_000_000 {
            assert_eq!(parse(&format(t)), Some(t));
            t = Ts(t.0 + 86_399_000 * 37 + 1000);
        }
    }
}
