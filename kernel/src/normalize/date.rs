//! `x-hub-date`: dates and date-times in the formats customers really send.
//!
//! Output is ISO 8601: `YYYY-MM-DD` for dates, RFC 3339 with the customer's
//! UTC offset for date-times. A date that could be read two ways
//! (`3/4/2026`) is never guessed — it is reported as `ambiguous-date`, which a
//! schema typically declares reviewable.

use std::sync::LazyLock;

use chrono::{Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone};
use chrono_tz::Tz;
use regex::Regex;
use serde_json::Value;

use super::text::fold_width;

/// Why a date could not be normalized; each maps to a problem code.
#[derive(Debug, Clone, PartialEq)]
pub enum DateError {
    Invalid(String),
    Ambiguous(String),
}

impl DateError {
    pub fn code(&self) -> &'static str {
        match self {
            DateError::Invalid(_) => "invalid-date",
            DateError::Ambiguous(_) => "ambiguous-date",
        }
    }

    pub fn message(&self) -> &str {
        match self {
            DateError::Invalid(m) | DateError::Ambiguous(m) => m,
        }
    }
}

// The patterns are literals checked by the unit tests below.
#[allow(clippy::expect_used)]
static DATE_TIME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?x)^
        (?:
            (?P<y1>\d{4})[-/.](?P<m1>\d{1,2})[-/.](?P<d1>\d{1,2})   # 2026-11-03, 2026/11/3
          | (?P<y2>\d{4})\s*年\s*(?P<m2>\d{1,2})\s*月\s*(?P<d2>\d{1,2})\s*[日号]?  # 2026年11月3日
          | (?P<y3>\d{4})(?P<m3>\d{2})(?P<d3>\d{2})                  # 20261103
          | (?P<d4>\d{1,2})\.(?P<m4>\d{1,2})\.(?P<y4>\d{4})          # 03.11.2026 (day first)
          | (?P<a5>\d{1,2})[/-](?P<b5>\d{1,2})[/-](?P<y5>\d{4})      # 3/11/2026 (either order)
        )
        (?:
            (?:\s*T\s*|\s+)
            (?P<hh>\d{1,2})\s*[:时点]\s*(?P<mi>\d{2})\s*(?:[:分]\s*(?P<ss>\d{2})\s*秒?)?分?
            (?:\.\d+)?
            \s*(?P<off>Z|[+-]\d{2}:?\d{2})?
        )?
        $",
    )
    .expect("date pattern is valid")
});

/// First day of the 1900 date system as Excel counts it (serial 1 =
/// 1900-01-01, with Excel's phantom 1900-02-29 absorbed by starting a day
/// early). Only serials in a plausible business range are taken as dates.
const EXCEL_EPOCH: (i32, u32, u32) = (1899, 12, 30);
const EXCEL_SERIAL_RANGE: std::ops::RangeInclusive<i64> = 20_000..=80_000;

struct Parsed {
    date: NaiveDate,
    time: Option<NaiveTime>,
    offset_minutes: Option<i32>,
}

fn parse(value: &Value) -> Result<Parsed, DateError> {
    let raw = match value {
        Value::String(s) => fold_width(s),
        Value::Number(n) => {
            return match n.as_i64() {
                Some(serial) if EXCEL_SERIAL_RANGE.contains(&serial) => {
                    let (y, m, d) = EXCEL_EPOCH;
                    let date = NaiveDate::from_ymd_opt(y, m, d)
                        .and_then(|epoch| epoch.checked_add_signed(Duration::days(serial)))
                        .ok_or_else(|| DateError::Invalid(format!("serial {serial} out of range")))?;
                    Ok(Parsed {
                        date,
                        time: None,
                        offset_minutes: None,
                    })
                }
                _ => Err(DateError::Invalid(format!(
                    "{n} is neither a date string nor a spreadsheet date serial"
                ))),
            };
        }
        _ => return Err(DateError::Invalid("expected a date string".into())),
    };
    let text = raw.trim();
    let caps = DATE_TIME
        .captures(text)
        .ok_or_else(|| DateError::Invalid(format!("'{}' is not a recognised date", shorten(text))))?;
    let num = |name: &str| caps.name(name).and_then(|m| m.as_str().parse::<u32>().ok());
    let (y, m, d) = if let (Some(y), Some(m), Some(d)) = (num("y1"), num("m1"), num("d1")) {
        (y, m, d)
    } else if let (Some(y), Some(m), Some(d)) = (num("y2"), num("m2"), num("d2")) {
        (y, m, d)
    } else if let (Some(y), Some(m), Some(d)) = (num("y3"), num("m3"), num("d3")) {
        (y, m, d)
    } else if let (Some(y), Some(m), Some(d)) = (num("y4"), num("m4"), num("d4")) {
        (y, m, d)
    } else if let (Some(y), Some(a), Some(b)) = (num("y5"), num("a5"), num("b5")) {
        match (a > 12, b > 12) {
            (true, false) => (y, b, a),
            (false, true) => (y, a, b),
            _ if a == b => (y, a, b),
            _ => {
                return Err(DateError::Ambiguous(format!(
                    "'{text}' could be {y}-{a:02}-{b:02} or {y}-{b:02}-{a:02}; write it as YYYY-MM-DD"
                )));
            }
        }
    } else {
        return Err(DateError::Invalid(format!(
            "'{}' is not a recognised date",
            shorten(text)
        )));
    };
    let year = i32::try_from(y).map_err(|_| DateError::Invalid(format!("year {y} out of range")))?;
    let date = NaiveDate::from_ymd_opt(year, m, d)
        .ok_or_else(|| DateError::Invalid(format!("{y}-{m:02}-{d:02} is not a calendar date")))?;
    let time = match (num("hh"), num("mi")) {
        (Some(h), Some(mi)) => Some(
            NaiveTime::from_hms_opt(h, mi, num("ss").unwrap_or(0))
                .ok_or_else(|| DateError::Invalid(format!("{h}:{mi:02} is not a time of day")))?,
        ),
        _ => None,
    };
    let offset_minutes = caps.name("off").map(|m| parse_offset(m.as_str()));
    Ok(Parsed {
        date,
        time,
        offset_minutes,
    })
}

fn parse_offset(raw: &str) -> i32 {
    if raw == "Z" {
        return 0;
    }
    let sign = if raw.starts_with('-') { -1 } else { 1 };
    let digits: String = raw.chars().filter(char::is_ascii_digit).collect();
    let hours: i32 = digits.get(0..2).and_then(|h| h.parse().ok()).unwrap_or(0);
    let minutes: i32 = digits.get(2..4).and_then(|m| m.parse().ok()).unwrap_or(0);
    sign * (hours * 60 + minutes)
}

fn shorten(text: &str) -> String {
    const MAX: usize = 40;
    if text.chars().count() <= MAX {
        text.to_owned()
    } else {
        text.chars().take(MAX).chain("…".chars()).collect()
    }
}

/// Normalizes a date to `YYYY-MM-DD`. A time part is accepted only when it
/// is midnight without an offset (spreadsheet exports add one).
pub fn normalize_date(value: &Value) -> Result<String, DateError> {
    let parsed = parse(value)?;
    match (parsed.time, parsed.offset_minutes) {
        (None, None) => {}
        (Some(t), None) if t == NaiveTime::MIN => {}
        _ => return Err(DateError::Invalid("expected a date without a time of day".into())),
    }
    Ok(parsed.date.format("%Y-%m-%d").to_string())
}

/// Normalizes a date-time to RFC 3339 in `zone`. A local time (no offset)
/// is read in `zone`; an explicit offset keeps the instant and is expressed
/// in `zone`.
pub fn normalize_date_time(value: &Value, zone: Tz) -> Result<String, DateError> {
    let parsed = parse(value)?;
    let time = parsed
        .time
        .ok_or_else(|| DateError::Invalid("a time of day is required (e.g. 2026-11-03 14:30)".into()))?;
    let local = NaiveDateTime::new(parsed.date, time);
    let instant = match parsed.offset_minutes {
        Some(minutes) => {
            let offset = chrono::FixedOffset::east_opt(minutes * 60)
                .ok_or_else(|| DateError::Invalid("UTC offset out of range".into()))?;
            offset
                .from_local_datetime(&local)
                .single()
                .ok_or_else(|| DateError::Invalid("time does not exist".into()))?
                .with_timezone(&zone)
        }
        None => zone
            .from_local_datetime(&local)
            .earliest()
            .ok_or_else(|| DateError::Invalid(format!("{local} does not exist in {zone} (clock change)")))?,
    };
    Ok(instant.format("%Y-%m-%dT%H:%M:%S%:z").to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn date(s: &str) -> Result<String, DateError> {
        normalize_date(&json!(s))
    }

    #[test]
    fn reads_customer_date_formats() {
        for raw in [
            "2026/11/3",
            "2026-11-03",
            "2026.11.3",
            "20261103",
            "03.11.2026",
            "2026年11月3日",
            "２０２６年１１月３日",
            "2026-11-03 00:00:00",
            " 2026/11/03 ",
        ] {
            assert_eq!(date(raw), Ok("2026-11-03".into()), "{raw}");
        }
        assert_eq!(normalize_date(&json!(46329)), Ok("2026-11-03".into()));
    }

    #[test]
    fn slash_dates_only_when_unambiguous() {
        assert_eq!(date("13/11/2026"), Ok("2026-11-13".into()));
        assert_eq!(date("11/13/2026"), Ok("2026-11-13".into()));
        assert_eq!(date("3/3/2026"), Ok("2026-03-03".into()));
        assert_eq!(date("3/4/2026").map_err(|e| e.code()), Err("ambiguous-date"));
    }

    #[test]
    fn refuses_non_dates() {
        for raw in ["2026-02-30", "tomorrow", "2026-13-01", "2026-11-03 14:30"] {
            assert_eq!(date(raw).map_err(|e| e.code()), Err("invalid-date"), "{raw}");
        }
        assert!(normalize_date(&json!(2026)).is_err());
    }

    #[test]
    fn date_times_take_the_customer_zone() {
        let sh: Tz = chrono_tz::Asia::Shanghai;
        assert_eq!(
            normalize_date_time(&json!("2026/11/3 14:30"), sh),
            Ok("2026-11-03T14:30:00+08:00".into())
        );
        assert_eq!(
            normalize_date_time(&json!("2026年11月3日 9时05分"), sh),
            Ok("2026-11-03T09:05:00+08:00".into())
        );
        assert_eq!(
            normalize_date_time(&json!("2026-11-03T06:30:00Z"), sh),
            Ok("2026-11-03T14:30:00+08:00".into())
        );
        assert_eq!(
            normalize_date_time(&json!("2026-11-03T14:30:00+08:00"), sh),
            Ok("2026-11-03T14:30:00+08:00".into())
        );
        let berlin: Tz = chrono_tz::Europe::Berlin;
        assert_eq!(
            normalize_date_time(&json!("03.11.2026 08:00"), berlin),
            Ok("2026-11-03T08:00:00+01:00".into())
        );
        assert_eq!(
            normalize_date_time(&json!("2026-11-03"), sh).map_err(|e| e.code()),
            Err("invalid-date")
        );
    }
}
