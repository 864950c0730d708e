//! Instants for the Date condition operators and `aws:CurrentTime`: ISO 8601 text or epoch seconds.
//!
//! AWS documents both forms for date conditions ("aws:CurrentTime" is ISO 8601, "aws:EpochTime"
//! is seconds since the epoch). Accepted text: `YYYY-MM-DD`, optionally followed by
//! `Thh:mm[:ss[.fraction]]` and a zone (`Z`, `±hh`, `±hhmm`, `±hh:mm`; none means UTC), or a
//! number of seconds since the epoch (optionally with a fraction). Instants are milliseconds.

/// Milliseconds since 1970-01-01T00:00:00Z, or `None` if `text` is not a date we accept.
pub(crate) fn parse_instant(text: &str) -> Option<i64> {
    let text = text.trim();
    if text.starts_with(|c: char| c.is_ascii_digit()) && !text.contains('-') && !text.contains(':') {
        return parse_epoch(text);
    }
    let mut cursor = Cursor(text.as_bytes());
    let year = cursor.digits(4)?;
    cursor.take(b'-')?;
    let month = cursor.digits(2)?;
    cursor.take(b'-')?;
    let day = cursor.digits(2)?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    let mut millis_of_day = 0;
    let mut offset_minutes = 0;
    if cursor.take(b'T').is_some() {
        let hour = cursor.digits(2)?;
        cursor.take(b':')?;
        let minute = cursor.digits(2)?;
        let mut second = 0;
        let mut millis = 0;
        if cursor.take(b':').is_some() {
            second = cursor.digits(2)?;
            if cursor.take(b'.').is_some() {
                millis = cursor.fraction_millis()?;
            }
        }
        if hour > 23 || minute > 59 || second > 59 {
            return None;
        }
        millis_of_day = ((hour * 60 + minute) * 60 + second) * 1000 + millis;
        offset_minutes = cursor.zone()?;
    }
    if !cursor.0.is_empty() {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some(days * 86_400_000 + millis_of_day - offset_minutes * 60_000)
}

/// `2024-05-01T12:00:00Z` for a Unix time in seconds (the form of `aws:CurrentTime`).
pub(crate) fn format_iso8601(unix_seconds: i64) -> String {
    let days = unix_seconds.div_euclid(86_400);
    let seconds = unix_seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    )
}

fn parse_epoch(text: &str) -> Option<i64> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let seconds: i64 = whole.parse().ok()?;
    let millis = Cursor(fraction.as_bytes()).fraction_millis().unwrap_or(0);
    seconds.checked_mul(1000)?.checked_add(millis)
}

struct Cursor<'a>(&'a [u8]);

impl Cursor<'_> {
    fn take(&mut self, byte: u8) -> Option<()> {
        let (&first, rest) = self.0.split_first()?;
        (first == byte).then(|| self.0 = rest)
    }

    fn digits(&mut self, count: usize) -> Option<i64> {
        let digits = self.0.get(..count)?;
        if !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        self.0 = &self.0[count..];
        Some(digits.iter().fold(0, |n, d| n * 10 + i64::from(d - b'0')))
    }

    /// The digits of a fraction of a second, as milliseconds (extra precision is dropped).
    fn fraction_millis(&mut self) -> Option<i64> {
        let len = self.0.iter().take_while(|b| b.is_ascii_digit()).count();
        if len == 0 {
            return None;
        }
        let millis = self.0[..len]
            .iter()
            .chain(b"000")
            .take(3)
            .fold(0, |n, d| n * 10 + i64::from(d - b'0'));
        self.0 = &self.0[len..];
        Some(millis)
    }

    /// Offset east of UTC in minutes.
    fn zone(&mut self) -> Option<i64> {
        if self.0.is_empty() || self.take(b'Z').is_some() {
            return Some(0);
        }
        let sign = if self.take(b'+').is_some() {
            1
        } else {
            self.take(b'-')?;
            -1
        };
        let hours = self.digits(2)?;
        let _ = self.take(b':');
        let minutes = if self.0.is_empty() { 0 } else { self.digits(2)? };
        (hours <= 23 && minutes <= 59).then_some(sign * (hours * 60 + minutes))
    }
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

// Days since 1970-01-01 in the proleptic Gregorian calendar, counting in 400-year eras that start
// on March 1st so the leap day is the last day of the year.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_table() {
        let cases: &[(&str, Option<i64>)] = &[
            ("1970-01-01", Some(0)),
            ("1970-01-01T00:00:00Z", Some(0)),
            ("2013-06-30T00:00:00Z", Some(1_372_550_400_000)),
            ("2013-06-30", Some(1_372_550_400_000)),
            ("2013-06-30T02:00:00+02:00", Some(1_372_550_400_000)),
            ("2013-06-30T02:00:00+0200", Some(1_372_550_400_000)),
            ("2013-06-29T22:00:00-02", Some(1_372_550_400_000)),
            ("2013-06-30T00:00Z", Some(1_372_550_400_000)),
            ("2013-06-30T00:00:00.250Z", Some(1_372_550_400_250)),
            ("2013-06-30T00:00:00.2Z", Some(1_372_550_400_200)),
            ("2013-06-30T00:00:00", Some(1_372_550_400_000)),
            ("1372550400", Some(1_372_550_400_000)),
            ("1372550400.5", Some(1_372_550_400_500)),
            ("2024-02-29T00:00:00Z", Some(1_709_164_800_000)),
            ("2023-02-29T00:00:00Z", None),
            ("2013-13-01", None),
            ("2013-06-30T24:00:00Z", None),
            ("2013-06-30T00:00:00Q", None),
            ("yesterday", None),
            ("", None),
            ("12.", Some(12_000)),
            (".5", None),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_instant(text), *expected, "{text}");
        }
    }

    #[test]
    fn format_round_trips() {
        for seconds in [0, 951_782_400, 1_372_550_400, 1_709_164_800, 4_102_444_799, -86_400] {
            let text = format_iso8601(seconds);
            assert_eq!(parse_instant(&text), Some(seconds * 1000), "{text}");
        }
        assert_eq!(format_iso8601(1_372_550_400), "2013-06-30T00:00:00Z");
    }
}
