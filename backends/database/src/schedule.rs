//! When a static role's password is rotated next: `rotation_period` after the last rotation, or
//! at the next time a `rotation_schedule` names.
//!
//! `rotation_schedule` is a cron expression in UTC, minute resolution, in the subset Vault's
//! parser (robfig/cron, standard five fields) accepts and people actually write:
//!
//! | field | values |
//! |---|---|
//! | minute | 0-59 |
//! | hour | 0-23 |
//! | day of month | 1-31 |
//! | month | 1-12 |
//! | day of week | 0-6, Sunday = 0 (7 is Sunday too) |
//!
//! Each field is a comma-separated list of `*`, `N`, `A-B`, `*/S` or `A-B/S`; or the whole
//! expression is one of `@yearly` (`@annually`), `@monthly`, `@weekly`, `@daily` (`@midnight`),
//! `@hourly`. Not supported: month or weekday names, `?`, `L`, `W`, `#`, seconds, time zones.
//! As in cron, when both day fields are restricted a day matching either one matches; when one
//! of them is `*` both must match.

use std::time::Duration;

use chrono::{DateTime, Datelike, Days, NaiveDate, TimeZone, Timelike, Utc};

/// How far ahead a schedule must match at least once (covers a 29 February).
const HORIZON_DAYS: u64 = 5 * 366;

/// A parsed `rotation_schedule`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CronSchedule {
    minutes: u64,
    hours: u64,
    days_of_month: u64,
    months: u64,
    days_of_week: u64,
    /// The day-of-month field is exactly `*`.
    any_day_of_month: bool,
    /// The day-of-week field is exactly `*`.
    any_day_of_week: bool,
}

/// When a role rotates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RotationPolicy {
    /// Every period after the last rotation.
    Period(Duration),
    /// At the times of a cron schedule.
    Schedule(CronSchedule),
}

impl RotationPolicy {
    /// The first rotation time after a rotation at `last`. `None` only for a schedule that never
    /// matches again (refused when written, so only a clock beyond the year 9999 gets here).
    pub(crate) fn next_after(&self, last: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            RotationPolicy::Period(period) => chrono::Duration::from_std(*period)
                .ok()
                .and_then(|d| last.checked_add_signed(d)),
            RotationPolicy::Schedule(cron) => cron.next_after(last),
        }
    }
}

struct Field {
    name: &'static str,
    min: u32,
    max: u32,
}

const MINUTE: Field = Field {
    name: "minute",
    min: 0,
    max: 59,
};
const HOUR: Field = Field {
    name: "hour",
    min: 0,
    max: 23,
};
const DAY_OF_MONTH: Field = Field {
    name: "day of month",
    min: 1,
    max: 31,
};
const MONTH: Field = Field {
    name: "month",
    min: 1,
    max: 12,
};
// 7 is accepted and folded onto 0 (Sunday).
const DAY_OF_WEEK: Field = Field {
    name: "day of week",
    min: 0,
    max: 7,
};

impl CronSchedule {
    /// Parse a schedule; the error says what is wrong and what is supported.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let expanded = match text.trim() {
            "@yearly" | "@annually" => "0 0 1 1 *",
            "@monthly" => "0 0 1 * *",
            "@weekly" => "0 0 * * 0",
            "@daily" | "@midnight" => "0 0 * * *",
            "@hourly" => "0 * * * *",
            other => other,
        };
        let fields: Vec<&str> = expanded.split_whitespace().collect();
        let [minute, hour, dom, month, dow] = fields.as_slice() else {
            return Err(format!(
                "rotation_schedule {text:?} is not a cron expression: expected five fields \
                 (minute hour day-of-month month day-of-week) or @hourly/@daily/@weekly/@monthly/@yearly"
            ));
        };
        let mut days_of_week = parse_field(dow, &DAY_OF_WEEK)?;
        if days_of_week & (1 << 7) != 0 {
            days_of_week = (days_of_week & !(1 << 7)) | 1;
        }
        let schedule = Self {
            minutes: parse_field(minute, &MINUTE)?,
            hours: parse_field(hour, &HOUR)?,
            days_of_month: parse_field(dom, &DAY_OF_MONTH)?,
            months: parse_field(month, &MONTH)?,
            days_of_week,
            any_day_of_month: *dom == "*",
            any_day_of_week: *dow == "*",
        };
        Ok(schedule)
    }

    /// The first matching minute strictly after `t`, within [`HORIZON_DAYS`].
    pub(crate) fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let start = t.with_second(0)?.with_nanosecond(0)? + chrono::Duration::minutes(1);
        let first_day = start.date_naive();
        for offset in 0..=HORIZON_DAYS {
            let day = first_day.checked_add_days(Days::new(offset))?;
            if !self.matches_day(day) {
                continue;
            }
            let (from_hour, from_minute) = if offset == 0 {
                (start.hour(), start.minute())
            } else {
                (0, 0)
            };
            for hour in from_hour..24 {
                if !has(self.hours, hour) {
                    continue;
                }
                let min_minute = if hour == from_hour { from_minute } else { 0 };
                if let Some(minute) = (min_minute..60).find(|m| has(self.minutes, *m)) {
                    let at = day.and_hms_opt(hour, minute, 0)?;
                    return Utc.from_local_datetime(&at).single();
                }
            }
        }
        None
    }

    fn matches_day(&self, day: NaiveDate) -> bool {
        if !has(self.months, day.month()) {
            return false;
        }
        let dom = has(self.days_of_month, day.day());
        let dow = has(self.days_of_week, day.weekday().num_days_from_sunday());
        if self.any_day_of_month || self.any_day_of_week {
            dom && dow
        } else {
            dom || dow
        }
    }
}

fn has(set: u64, value: u32) -> bool {
    value < 64 && set & (1u64 << value) != 0
}

/// One field: a comma list of `*`, `N`, `A-B`, `*/S`, `A-B/S`, as a bit set.
fn parse_field(text: &str, field: &Field) -> Result<u64, String> {
    let mut set = 0u64;
    for item in text.split(',') {
        let bad = |why: &str| {
            format!(
                "rotation_schedule: {} field {text:?}: {why} (use *, N, A-B, */S or A-B/S with \
                 numbers {}-{})",
                field.name, field.min, field.max
            )
        };
        let (range, step) = match item.split_once('/') {
            Some((range, step)) => {
                let step: u32 = step.parse().map_err(|_| bad("bad step"))?;
                if step == 0 {
                    return Err(bad("a step must be at least 1"));
                }
                (range, step)
            }
            None => (item, 1),
        };
        let number = |s: &str| -> Result<u32, String> {
            let n: u32 = s
                .parse()
                .map_err(|_| bad(&format!("{s:?} is not a number")))?;
            if n < field.min || n > field.max {
                return Err(bad(&format!("{n} is out of range")));
            }
            Ok(n)
        };
        let (low, high) = match range {
            "*" => (field.min, field.max),
            _ => match range.split_once('-') {
                Some((a, b)) => (number(a)?, number(b)?),
                // `N/S` alone is not standard cron; refuse it rather than guess.
                None if step != 1 => return Err(bad("a step needs * or a range before it")),
                None => {
                    let n = number(range)?;
                    (n, n)
                }
            },
        };
        if low > high {
            return Err(bad(&format!("{low}-{high} is an empty range")));
        }
        let mut value = low;
        while value <= high {
            set |= 1u64 << value;
            value = value.saturating_add(step);
        }
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    fn next(schedule: &str, after: &str) -> String {
        CronSchedule::parse(schedule)
            .unwrap()
            .next_after(at(after))
            .map(|t| t.to_rfc3339())
            .unwrap_or_default()
    }

    #[test]
    fn next_times() {
        // 2024-05-01 is a Wednesday.
        let wed = "2024-05-01T10:17:30Z";
        assert_eq!(next("*/15 * * * *", wed), "2024-05-01T10:30:00+00:00");
        assert_eq!(next("0 * * * *", wed), "2024-05-01T11:00:00+00:00");
        assert_eq!(next("@hourly", wed), "2024-05-01T11:00:00+00:00");
        assert_eq!(next("@daily", wed), "2024-05-02T00:00:00+00:00");
        assert_eq!(next("30 2 * * 1-5", wed), "2024-05-02T02:30:00+00:00");
        assert_eq!(next("0 0 * * 0", wed), "2024-05-05T00:00:00+00:00");
        assert_eq!(next("0 0 * * 7", wed), "2024-05-05T00:00:00+00:00");
        assert_eq!(next("@monthly", wed), "2024-06-01T00:00:00+00:00");
        assert_eq!(next("0 0 29 2 *", wed), "2028-02-29T00:00:00+00:00");
        assert_eq!(next("17 10 * * *", wed), "2024-05-02T10:17:00+00:00");
        assert_eq!(next("18 10 * * *", wed), "2024-05-01T10:18:00+00:00");
        assert_eq!(next("0,45 9-11/2 * * *", wed), "2024-05-01T11:00:00+00:00");
        // Both day fields restricted: either matches (the 15th, or a Monday).
        assert_eq!(next("0 0 15 * 1", wed), "2024-05-06T00:00:00+00:00");
        // One of them `*`: both must (Mondays in June).
        assert_eq!(next("0 0 * 6 1", wed), "2024-06-03T00:00:00+00:00");
    }

    #[test]
    fn refusals_name_the_field() {
        for (text, needle) in [
            ("* * * *", "five fields"),
            ("@reboot", "five fields"),
            ("60 * * * *", "minute"),
            ("* 24 * * *", "hour"),
            ("* * 0 * *", "day of month"),
            ("* * * 13 *", "month"),
            ("* * * JAN *", "month"),
            ("* * * * 8", "day of week"),
            ("*/0 * * * *", "step"),
            ("5/10 * * * *", "step"),
            ("10-5 * * * *", "empty range"),
            ("? * * * *", "minute"),
        ] {
            let err = CronSchedule::parse(text).unwrap_err();
            assert!(err.contains(needle), "{text}: {err}");
        }
        let never = CronSchedule::parse("0 0 31 2 *").unwrap();
        assert_eq!(never.next_after(at("2024-05-01T00:00:00Z")), None);
    }

    #[test]
    fn periods_add_up() {
        let p = RotationPolicy::Period(Duration::from_secs(90));
        assert_eq!(
            p.next_after(at("2024-05-01T00:00:00Z")),
            Some(at("2024-05-01T00:01:30Z"))
        );
    }
}
