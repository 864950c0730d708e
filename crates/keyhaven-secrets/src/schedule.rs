//! Rotation schedules: `AutomaticallyAfterDays`, `rate(...)` and six-field `cron(...)` expressions
//! (UTC, EventBridge syntax), and the `Duration` window; computes when a rotation next falls due.

use time::{Date, OffsetDateTime, Time};

use super::{SecretsFault, fault};
use crate::error::SecretsError;

const DAY: i64 = 86_400;
const HOUR: i64 = 3_600;
/// Secrets Manager rotates at most every four hours.
const MIN_INTERVAL_HOURS: i64 = 4;
/// How far ahead a cron expression is searched before it is declared never due.
const SEARCH_DAYS: i64 = 366 * 5;

/// A parsed `ScheduleExpression` or `AutomaticallyAfterDays`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Schedule {
    Every { seconds: i64 },
    Cron(Box<Cron>),
}

/// The six fields of a cron expression, each as the set of values it allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    minutes: Vec<bool>,
    hours: Vec<bool>,
    days_of_month: Field,
    months: Vec<bool>,
    days_of_week: Field,
    years: Option<Vec<u16>>,
}

/// A day field: `?` (any, the other day field decides), a set of values, or the special forms.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Field {
    Any,
    Values(Vec<bool>),
    /// `L` in day-of-month: the month's last day.
    LastDay,
    /// `xL` in day-of-week: the month's last such weekday (1 = Sunday).
    LastWeekday(u8),
    /// `x#n` in day-of-week: the month's n-th such weekday.
    NthWeekday(u8, u8),
}

fn invalid(expression: &str) -> SecretsError {
    fault(
        SecretsFault::InvalidParameter,
        format!("Invalid ScheduleExpression: {expression}"),
    )
}

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const WEEKDAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

fn value_of(text: &str, names: &[&str], first: u32) -> Option<u32> {
    text.parse::<u32>().ok().or_else(|| {
        names
            .iter()
            .position(|n| n.eq_ignore_ascii_case(text))
            .map(|i| i as u32 + first)
    })
}

/// Parses a list of `*`, `a`, `a-b`, `*/s`, `a/s` and `a-b/s` items into a set over `min..=max`.
fn parse_set(text: &str, min: u32, max: u32, names: &[&str]) -> Option<Vec<bool>> {
    let mut set = vec![false; max as usize + 1];
    for item in text.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((range, step)) => (range, step.parse::<u32>().ok().filter(|s| *s > 0)?),
            None => (item, 1),
        };
        let (start, end) = if range == "*" {
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            (value_of(a, names, min)?, value_of(b, names, min)?)
        } else {
            let value = value_of(range, names, min)?;
            (value, if item.contains('/') { max } else { value })
        };
        if start < min || end > max || start > end {
            return None;
        }
        let mut value = start;
        while value <= end {
            set[value as usize] = true;
            value += step;
        }
    }
    Some(set)
}

fn parse_day_of_month(text: &str) -> Option<Field> {
    match text {
        "?" => Some(Field::Any),
        "L" => Some(Field::LastDay),
        _ => parse_set(text, 1, 31, &[]).map(Field::Values),
    }
}

fn parse_day_of_week(text: &str) -> Option<Field> {
    if text == "?" {
        return Some(Field::Any);
    }
    if let Some(day) = text.strip_suffix('L') {
        let day = value_of(day, &WEEKDAYS, 1).filter(|d| (1..=7).contains(d))?;
        return Some(Field::LastWeekday(day as u8));
    }
    if let Some((day, nth)) = text.split_once('#') {
        let day = value_of(day, &WEEKDAYS, 1).filter(|d| (1..=7).contains(d))?;
        let nth = nth.parse::<u8>().ok().filter(|n| (1..=5).contains(n))?;
        return Some(Field::NthWeekday(day as u8, nth));
    }
    parse_set(text, 1, 7, &WEEKDAYS).map(Field::Values)
}

impl Cron {
    fn parse(body: &str) -> Option<Cron> {
        let fields: Vec<&str> = body.split_whitespace().collect();
        let [minutes, hours, dom, month, dow, year] = fields.as_slice() else {
            return None;
        };
        let days_of_month = parse_day_of_month(dom)?;
        let days_of_week = parse_day_of_week(dow)?;
        // EventBridge: exactly one of the two day fields is `?`.
        if (days_of_month == Field::Any) == (days_of_week == Field::Any) {
            return None;
        }
        let years = match *year {
            "*" => None,
            text => {
                let set = parse_set(text, 1970, 2199, &[])?;
                Some((1970..=2199u16).filter(|y| set[*y as usize]).collect())
            }
        };
        Some(Cron {
            minutes: parse_set(minutes, 0, 59, &[])?,
            hours: parse_set(hours, 0, 23, &[])?,
            days_of_month,
            months: parse_set(month, 1, 12, &MONTHS)?,
            days_of_week,
            years,
        })
    }

    fn matches_day(&self, date: Date) -> bool {
        let month = u8::from(date.month()) as usize;
        if !self.months[month] {
            return false;
        }
        if let Some(years) = &self.years
            && !years.contains(&(date.year() as u16))
        {
            return false;
        }
        let weekday = date.weekday().number_days_from_sunday() + 1;
        let last_day = date.month().length(date.year());
        match &self.days_of_month {
            Field::Any => {}
            Field::LastDay => return date.day() == last_day,
            Field::Values(set) => return set[date.day() as usize],
            _ => return false,
        }
        match &self.days_of_week {
            Field::Values(set) => set[weekday as usize],
            Field::LastWeekday(day) => weekday == *day && date.day() + 7 > last_day,
            Field::NthWeekday(day, nth) => weekday == *day && (date.day() - 1) / 7 + 1 == *nth,
            _ => false,
        }
    }

    /// The shortest gap, in seconds, between two rotation times of one day (the last and the next
    /// day's first included): Secrets Manager refuses anything under four hours.
    fn min_daily_gap(&self) -> i64 {
        let times: Vec<i64> = (0..24)
            .filter(|h| self.hours[*h])
            .flat_map(|h| {
                (0..60)
                    .filter(|m| self.minutes[*m])
                    .map(move |m| h as i64 * HOUR + m as i64 * 60)
            })
            .collect();
        let wrap = times.first().map(|first| first + 24 * HOUR);
        times
            .iter()
            .zip(times.iter().skip(1).copied().chain(wrap))
            .map(|(a, b)| b - a)
            .min()
            .unwrap_or(0)
    }

    /// The latest time of day (seconds after midnight) a rotation window starts.
    fn latest_start(&self) -> i64 {
        let hour = (0..24).rev().find(|h| self.hours[*h]).unwrap_or(0) as i64;
        let minute = (0..60).rev().find(|m| self.minutes[*m]).unwrap_or(0) as i64;
        hour * HOUR + minute * 60
    }

    /// The first matching minute at or after `after` (unix seconds).
    fn next(&self, after: i64) -> Option<i64> {
        let start = OffsetDateTime::from_unix_timestamp(after).ok()?;
        let mut date = start.date();
        for _ in 0..SEARCH_DAYS {
            if self.matches_day(date) {
                let day_start = date.with_time(Time::MIDNIGHT).assume_utc().unix_timestamp();
                for hour in (0..24).filter(|h| self.hours[*h]) {
                    for minute in (0..60).filter(|m| self.minutes[*m]) {
                        let at = day_start + hour as i64 * HOUR + minute as i64 * 60;
                        if at >= after {
                            return Some(at);
                        }
                    }
                }
            }
            date = date.next_day()?;
        }
        None
    }
}

impl Schedule {
    /// From the request's `RotationRules`: exactly one of the two must be given.
    pub fn parse(days: Option<i64>, expression: Option<&str>) -> Result<Schedule, SecretsError> {
        match (days, expression) {
            (Some(_), Some(_)) => Err(fault(
                SecretsFault::InvalidParameter,
                "You can't specify both AutomaticallyAfterDays and ScheduleExpression.",
            )),
            (Some(days), None) if (1..=1000).contains(&days) => Ok(Schedule::Every { seconds: days * DAY }),
            (Some(_), None) => Err(fault(
                SecretsFault::InvalidParameter,
                "The AutomaticallyAfterDays value must be between 1 and 1000.",
            )),
            (None, Some(expression)) => Self::parse_expression(expression),
            (None, None) => Err(fault(
                SecretsFault::InvalidParameter,
                "You must specify either AutomaticallyAfterDays or ScheduleExpression.",
            )),
        }
    }

    fn parse_expression(expression: &str) -> Result<Schedule, SecretsError> {
        if let Some(body) = expression.strip_prefix("rate(").and_then(|r| r.strip_suffix(')')) {
            let (value, unit) = body.trim().split_once(' ').ok_or_else(|| invalid(expression))?;
            let value: i64 = value.parse().map_err(|_| invalid(expression))?;
            let seconds = match unit {
                "hour" | "hours" if (MIN_INTERVAL_HOURS..=999).contains(&value) => value * HOUR,
                "day" | "days" if (1..=1000).contains(&value) => value * DAY,
                _ => return Err(invalid(expression)),
            };
            return Ok(Schedule::Every { seconds });
        }
        if let Some(body) = expression.strip_prefix("cron(").and_then(|r| r.strip_suffix(')')) {
            let cron = Cron::parse(body).ok_or_else(|| invalid(expression))?;
            if cron.min_daily_gap() < MIN_INTERVAL_HOURS * HOUR {
                return Err(invalid(expression));
            }
            return Ok(Schedule::Cron(Box::new(cron)));
        }
        Err(invalid(expression))
    }

    /// When the rotation after one at `last` falls due.
    pub fn next_after(&self, last: i64) -> Option<i64> {
        match self {
            Schedule::Every { seconds } => Some(last + seconds),
            Schedule::Cron(cron) => cron.next(last + 60),
        }
    }
}

/// Validates a rotation window `Duration` (`1h`..`24h`); a cron schedule's windows must also end
/// within the UTC day they start in.
pub fn validate_duration(duration: &str, schedule: &Schedule) -> Result<(), SecretsError> {
    let hours = duration
        .strip_suffix('h')
        .and_then(|h| h.parse::<i64>().ok())
        .filter(|h| (1..=24).contains(h))
        .ok_or_else(|| fault(SecretsFault::InvalidParameter, format!("Invalid Duration: {duration}")))?;
    if let Schedule::Cron(cron) = schedule
        && cron.latest_start() + hours * HOUR > 24 * HOUR
    {
        return Err(fault(
            SecretsFault::InvalidParameter,
            "The rotation window must end before the end of the UTC day. Adjust the ScheduleExpression or the Duration.",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> i64 {
        let format = time::format_description::well_known::Rfc3339;
        OffsetDateTime::parse(text, &format)
            .expect("test value")
            .unix_timestamp()
    }

    #[test]
    fn schedules_fall_due_when_aws_documents() {
        // Examples from the Secrets Manager user guide's rotation schedule table.
        let cases = [
            ("rate(10 days)", "2026-01-01T12:00:00Z", "2026-01-11T12:00:00Z"),
            ("rate(4 hours)", "2026-01-01T12:00:00Z", "2026-01-01T16:00:00Z"),
            ("rate(1 day)", "2026-01-01T12:00:00Z", "2026-01-02T12:00:00Z"),
            ("cron(0 16 1,15 * ? *)", "2026-01-01T17:00:00Z", "2026-01-15T16:00:00Z"),
            ("cron(0 8-19/4 * * ? *)", "2026-01-01T09:00:00Z", "2026-01-01T12:00:00Z"),
            ("cron(0 0 ? * MON *)", "2026-01-01T00:00:00Z", "2026-01-05T00:00:00Z"),
            ("cron(0 10 L * ? *)", "2026-02-03T00:00:00Z", "2026-02-28T10:00:00Z"),
            ("cron(0 10 ? * 6L *)", "2026-01-01T00:00:00Z", "2026-01-30T10:00:00Z"),
            ("cron(0 10 ? * 2#1 *)", "2026-01-06T00:00:00Z", "2026-02-02T10:00:00Z"),
            ("cron(0 4 1 JAN ? 2027)", "2026-03-01T00:00:00Z", "2027-01-01T04:00:00Z"),
        ];
        for (expression, last, expected) in cases {
            let schedule = Schedule::parse(None, Some(expression)).expect("test value");
            assert_eq!(schedule.next_after(at(last)), Some(at(expected)), "{expression}");
        }
    }

    #[test]
    fn bad_expressions_are_refused() {
        for bad in [
            "rate(1 minutes)",
            "rate(3 hours)",
            "rate(0 days)",
            "rate(1001 days)",
            "rate(ten days)",
            "cron(bad)",
            "cron(0 16 1,15 * * *)",
            "cron(0 16 ? * ? *)",
            "cron(0 */1 * * ? *)",
            "cron(61 16 1 * ? *)",
            "every day",
            "",
        ] {
            assert!(Schedule::parse(None, Some(bad)).is_err(), "{bad}");
        }
        assert!(Schedule::parse(Some(0), None).is_err());
        assert!(Schedule::parse(Some(1001), None).is_err());
        assert!(Schedule::parse(Some(30), Some("rate(30 days)")).is_err());
        assert_eq!(
            Schedule::parse(Some(30), None).expect("test value"),
            Schedule::Every { seconds: 30 * DAY }
        );
    }

    #[test]
    fn durations_are_whole_hours_up_to_a_day() {
        let daily = Schedule::parse(Some(1), None).expect("test value");
        for good in ["1h", "3h", "24h"] {
            assert!(validate_duration(good, &daily).is_ok(), "{good}");
        }
        for bad in ["0h", "25h", "3", "h", "3m", "100h"] {
            assert!(validate_duration(bad, &daily).is_err(), "{bad}");
        }
        let evening = Schedule::parse(None, Some("cron(0 20 * * ? *)")).expect("test value");
        assert!(validate_duration("4h", &evening).is_ok());
        assert!(validate_duration("6h", &evening).is_err());
    }
}
