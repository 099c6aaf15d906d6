//! SigV4's timestamps: the ISO 8601 basic form (`20130524T000000Z`) that
//! `X-Amz-Date` carries and the string to sign repeats, and the `Date`
//! header's RFC 1123 form, header auth's fallback.
//!
//! Hand-rolled over the civil-date arithmetic rather than a date crate: the
//! format is fixed and tiny, and the parser must refuse anything S3 would.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A request timestamp: the instant, and the ISO 8601 basic text that goes
/// into the string to sign (for a `Date` header, its reformatting).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AmzDate {
    pub(crate) time: SystemTime,
    pub(crate) text: String,
}

impl AmzDate {
    /// `YYYYMMDD`, the date the credential scope must name.
    pub(crate) fn date(&self) -> &str {
        &self.text[..8]
    }

    /// Parses `X-Amz-Date`'s `YYYYMMDDTHHMMSSZ`, exactly.
    pub(crate) fn parse_iso(text: &str) -> Option<AmzDate> {
        let b = text.as_bytes();
        if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
            return None;
        }
        let num = |range: std::ops::Range<usize>| -> Option<u32> {
            let digits = &b[range];
            if !digits.iter().all(u8::is_ascii_digit) {
                return None;
            }
            Some(digits.iter().fold(0, |n, d| n * 10 + u32::from(d - b'0')))
        };
        let (year, month, day) = (num(0..4)?, num(4..6)?, num(6..8)?);
        let (hour, minute, second) = (num(9..11)?, num(11..13)?, num(13..15)?);
        if year < 1970
            || !(1..=12).contains(&month)
            || day == 0
            || day > days_in_month(year, month)
            || hour > 23
            || minute > 59
            || second > 59
        {
            return None;
        }
        let days = days_from_civil(i64::from(year), month, day);
        let secs = days * 86_400 + i64::from(hour * 3600 + minute * 60 + second);
        let time = UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).ok()?);
        Some(AmzDate {
            time,
            text: text.to_owned(),
        })
    }

    /// Parses a `Date` header (RFC 1123, or the other two forms HTTP allows).
    pub(crate) fn parse_http(text: &str) -> Option<AmzDate> {
        let time = httpdate::parse_http_date(text).ok()?;
        Some(AmzDate {
            time,
            text: format_iso(time)?,
        })
    }
}

/// Formats an instant as `YYYYMMDDTHHMMSSZ`; `None` before 1970.
pub(crate) fn format_iso(time: SystemTime) -> Option<String> {
    let secs = time.duration_since(UNIX_EPOCH).ok()?.as_secs();
    let days = i64::try_from(secs / 86_400).ok()?;
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    Some(format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    ))
}

fn is_leap(year: u32) -> bool {
    (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400)
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

// Howard Hinnant's `days_from_civil` / `civil_from_days`: days since
// 1970-01-01 in the proleptic Gregorian calendar, eras of 400 years.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_iso_form_round_trips_through_an_instant() {
        for text in [
            "19700101T000000Z",
            "20130524T000000Z",
            "20000229T235959Z",
            "20241231T120000Z",
            "21000301T000001Z",
        ] {
            let parsed = AmzDate::parse_iso(text).unwrap();
            assert_eq!(format_iso(parsed.time).unwrap(), text);
        }
        let may = AmzDate::parse_iso("20130524T000000Z").unwrap();
        assert_eq!(may.time, UNIX_EPOCH + Duration::from_secs(1_369_353_600));
    }

    #[test]
    fn malformed_iso_dates_are_refused() {
        for text in [
            "",
            "20130524T000000",
            "20130524 000000Z",
            "2013-05-24T00:00:00Z",
            "20130230T000000Z",
            "20190229T000000Z",
            "20130524T240000Z",
            "20130524T006000Z",
            "19690101T000000Z",
            "2013052AT000000Z",
            "+0130524T000000Z",
        ] {
            assert!(AmzDate::parse_iso(text).is_none(), "{text}");
        }
    }

    #[test]
    fn a_date_header_becomes_the_iso_form() {
        let parsed = AmzDate::parse_http("Fri, 24 May 2013 00:00:00 GMT").unwrap();
        assert_eq!(parsed.text, "20130524T000000Z");
        assert_eq!(parsed.date(), "20130524");
        assert!(AmzDate::parse_http("yesterday").is_none());
    }
}
