//! Auto-approval rules: the conditions under which a tier lets a request through without a
//! person, so a pipeline is not slowed where the risk does not need one. Every condition a rule
//! states must hold; a rule must state at least one (a tier that approves everything should not
//! need approval at all). The first rule that holds decides, and the request is recorded as
//! "approved by rule R".
//!
//! `max_live_leases` is read before the credential is issued, not under a lock: two requests at
//! the same moment may both see room. It is a tiering rule, not a cap; a hard cap is a
//! lease-count quota.

use chrono::{DateTime, Datelike, Timelike, Utc, Weekday};
use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::selector::{strings, Selector};

/// What a rule looks at.
pub struct RuleContext<'a> {
    /// The requesting token's workload.
    pub workload: &'a str,
    /// The requesting token's policies.
    pub policies: &'a [String],
    /// The request's ticket, if any.
    pub ticket: Option<&'a str>,
    /// Now.
    pub now: DateTime<Utc>,
    /// Live leases of the role now.
    pub live_leases: u64,
}

/// One rule, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AutoRule {
    /// Named in the record ("approved by rule R").
    pub name: String,
    /// The requester must be one of these (policies or workloads).
    #[serde(default)]
    pub requesters: Selector,
    /// The ticket must match this regular expression (anchor it yourself: `^CHG-[0-9]+$`).
    #[serde(default)]
    pub ticket_pattern: Option<String>,
    /// UTC minutes of the day `[start, end)`; `start > end` spans midnight.
    #[serde(default)]
    pub hours: Option<(u16, u16)>,
    /// Days of the week (UTC), `mon`..`sun`.
    #[serde(default)]
    pub weekdays: Vec<String>,
    /// At most this many live leases of the role before this request.
    #[serde(default)]
    pub max_live_leases: Option<u64>,
}

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

impl AutoRule {
    /// Parse one rule object; every key is known, every value valid.
    pub fn parse(v: &Value) -> Result<AutoRule, String> {
        let Value::Object(obj) = v else {
            return Err("a rule must be an object".into());
        };
        const KNOWN: &[&str] = &[
            "name",
            "policies",
            "workloads",
            "ticket_pattern",
            "hours",
            "weekdays",
            "max_live_leases",
        ];
        if let Some(k) = obj.keys().find(|k| !KNOWN.contains(&k.as_str())) {
            return Err(format!(
                "unknown key {k:?}; expected one of {}",
                KNOWN.join(", ")
            ));
        }
        let name = match obj.get("name") {
            Some(Value::String(s)) if leasehold_backend::name::is_valid(s) => s.clone(),
            _ => return Err("every rule needs a \"name\" (letters, digits, '_', '-', '.')".into()),
        };
        let requesters = Selector::parse(obj)?;
        let ticket_pattern = match obj.get("ticket_pattern") {
            None | Some(Value::Null) => None,
            Some(Value::String(p)) if !p.is_empty() => {
                Regex::new(p).map_err(|e| format!("ticket_pattern: {e}"))?;
                Some(p.clone())
            }
            Some(_) => return Err("ticket_pattern must be a non-empty string".into()),
        };
        let hours = match obj.get("hours") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(parse_hours(s)?),
            Some(_) => return Err("hours must be a string like \"08:00-18:00\" (UTC)".into()),
        };
        let weekdays = strings(obj.get("weekdays"), "weekdays")?
            .into_iter()
            .map(|d| {
                let d = d.to_ascii_lowercase();
                DAYS.contains(&d.as_str())
                    .then_some(d.clone())
                    .ok_or_else(|| format!("weekdays: {d:?} is not one of {}", DAYS.join(", ")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let max_live_leases = match obj.get("max_live_leases") {
            None | Some(Value::Null) => None,
            Some(v) => Some(
                v.as_u64()
                    .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                    .ok_or("max_live_leases must be a whole number")?,
            ),
        };
        let rule = AutoRule {
            name,
            requesters,
            ticket_pattern,
            hours,
            weekdays,
            max_live_leases,
        };
        if rule.requesters.is_empty()
            && rule.ticket_pattern.is_none()
            && rule.hours.is_none()
            && rule.weekdays.is_empty()
            && rule.max_live_leases.is_none()
        {
            return Err(format!(
                "rule {:?} states no condition; a rule must limit something",
                rule.name
            ));
        }
        Ok(rule)
    }

    /// `Ok` when every condition holds; otherwise the first that does not, in words.
    pub fn check(&self, ctx: &RuleContext<'_>) -> Result<(), String> {
        if !self.requesters.is_empty() {
            let by_policy = ctx
                .policies
                .iter()
                .any(|p| self.requesters.policies.contains(p));
            if !by_policy && !self.requesters.matches_workload(ctx.workload) {
                return Err(format!("requester {:?} is not named", ctx.workload));
            }
        }
        if let Some(pattern) = &self.ticket_pattern {
            // Validated when the rule was written; a pattern that no longer compiles holds for
            // nobody.
            let holds = Regex::new(pattern)
                .map(|re| ctx.ticket.is_some_and(|t| re.is_match(t)))
                .unwrap_or(false);
            if !holds {
                return Err(format!("ticket does not match {pattern:?}"));
            }
        }
        if let Some((start, end)) = self.hours {
            let minute = (ctx.now.hour() * 60 + ctx.now.minute()) as u16;
            let inside = if start <= end {
                (start..end).contains(&minute)
            } else {
                minute >= start || minute < end
            };
            if !inside {
                return Err(format!(
                    "{} UTC is outside {}",
                    ctx.now.format("%H:%M"),
                    show_hours(start, end)
                ));
            }
        }
        if !self.weekdays.is_empty() {
            let today = day_name(ctx.now.weekday());
            if !self.weekdays.iter().any(|d| d == today) {
                return Err(format!("{today} is not one of the rule's weekdays"));
            }
        }
        if let Some(max) = self.max_live_leases {
            if ctx.live_leases >= max {
                return Err(format!(
                    "the role has {} live leases (the rule allows fewer than {max})",
                    ctx.live_leases
                ));
            }
        }
        Ok(())
    }

    /// As read back.
    pub fn to_json(&self) -> Value {
        let mut obj = Map::new();
        obj.insert("name".into(), json!(self.name));
        if !self.requesters.policies.is_empty() {
            obj.insert("policies".into(), json!(self.requesters.policies));
        }
        if !self.requesters.workloads.is_empty() {
            obj.insert("workloads".into(), json!(self.requesters.workloads));
        }
        if let Some(p) = &self.ticket_pattern {
            obj.insert("ticket_pattern".into(), json!(p));
        }
        if let Some((s, e)) = self.hours {
            obj.insert("hours".into(), json!(show_hours(s, e)));
        }
        if !self.weekdays.is_empty() {
            obj.insert("weekdays".into(), json!(self.weekdays));
        }
        if let Some(m) = self.max_live_leases {
            obj.insert("max_live_leases".into(), json!(m));
        }
        Value::Object(obj)
    }
}

/// The first rule of `rules` that holds, or why each failed.
pub fn first_holding<'r>(
    rules: &'r [AutoRule],
    ctx: &RuleContext<'_>,
) -> Result<&'r AutoRule, Vec<String>> {
    let mut misses = Vec::new();
    for rule in rules {
        match rule.check(ctx) {
            Ok(()) => return Ok(rule),
            Err(why) => misses.push(format!("{}: {why}", rule.name)),
        }
    }
    Err(misses)
}

fn day_name(d: Weekday) -> &'static str {
    match d {
        Weekday::Mon => "mon",
        Weekday::Tue => "tue",
        Weekday::Wed => "wed",
        Weekday::Thu => "thu",
        Weekday::Fri => "fri",
        Weekday::Sat => "sat",
        Weekday::Sun => "sun",
    }
}

fn parse_hours(s: &str) -> Result<(u16, u16), String> {
    let bad = || format!("hours: {s:?} is not like \"08:00-18:00\" (UTC)");
    let (a, b) = s.split_once('-').ok_or_else(bad)?;
    let minute = |t: &str| -> Result<u16, String> {
        let (h, m) = t.trim().split_once(':').ok_or_else(bad)?;
        let (h, m): (u16, u16) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
        if h > 24 || m > 59 || (h == 24 && m != 0) {
            return Err(bad());
        }
        Ok(h * 60 + m)
    };
    let (start, end) = (minute(a)?, minute(b)?);
    if start == end {
        return Err(format!("hours: {s:?} is an empty window"));
    }
    Ok((start, end.min(24 * 60)))
}

fn show_hours(start: u16, end: u16) -> String {
    format!(
        "{:02}:{:02}-{:02}:{:02}",
        start / 60,
        start % 60,
        end / 60,
        end % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn rule(v: Value) -> AutoRule {
        AutoRule::parse(&v).unwrap()
    }

    fn ctx<'a>(
        workload: &'a str,
        ticket: Option<&'a str>,
        now: DateTime<Utc>,
        live: u64,
    ) -> RuleContext<'a> {
        RuleContext {
            workload,
            policies: &[],
            ticket,
            now,
            live_leases: live,
        }
    }

    // 2026-12-07 is a Monday.
    fn at(day: u32, h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, day, h, m, 0).unwrap()
    }

    #[test]
    fn every_condition_must_hold() {
        let r = rule(json!({
            "name": "ci-in-hours", "workloads": ["auth/approle/role/ci"], "ticket_pattern": "^CHG-[0-9]+$",
            "hours": "08:00-18:00", "weekdays": ["mon", "tue", "wed", "thu", "fri"], "max_live_leases": 3
        }));
        let ok = ctx("auth/approle/role/ci", Some("CHG-42"), at(7, 9, 0), 2);
        assert_eq!(r.check(&ok), Ok(()));
        for (c, why) in [
            (
                ctx("auth/approle/role/other", Some("CHG-42"), at(7, 9, 0), 2),
                "not named",
            ),
            (
                ctx("auth/approle/role/ci", Some("chg-42"), at(7, 9, 0), 2),
                "ticket",
            ),
            (ctx("auth/approle/role/ci", None, at(7, 9, 0), 2), "ticket"),
            (
                ctx("auth/approle/role/ci", Some("CHG-42 extra"), at(7, 9, 0), 2),
                "ticket",
            ),
            (
                ctx("auth/approle/role/ci", Some("CHG-42"), at(7, 18, 0), 2),
                "outside",
            ),
            (
                ctx("auth/approle/role/ci", Some("CHG-42"), at(7, 7, 59), 2),
                "outside",
            ),
            (
                ctx("auth/approle/role/ci", Some("CHG-42"), at(6, 9, 0), 2),
                "sun",
            ),
            (
                ctx("auth/approle/role/ci", Some("CHG-42"), at(7, 9, 0), 3),
                "live leases",
            ),
        ] {
            let e = r.check(&c).unwrap_err();
            assert!(e.contains(why), "{why}: {e}");
        }
    }

    #[test]
    fn night_window_spans_midnight() {
        let r = rule(json!({"name": "night", "hours": "22:00-06:00"}));
        assert!(r.check(&ctx("", None, at(7, 23, 30), 0)).is_ok());
        assert!(r.check(&ctx("", None, at(7, 5, 59), 0)).is_ok());
        assert!(r.check(&ctx("", None, at(7, 12, 0), 0)).is_err());
    }

    #[test]
    fn requester_by_policy() {
        let r = rule(json!({"name": "readers", "policies": ["ci-reader"]}));
        let policies = vec!["default".to_string(), "ci-reader".to_string()];
        let c = RuleContext {
            workload: "",
            policies: &policies,
            ticket: None,
            now: at(7, 1, 0),
            live_leases: 0,
        };
        assert!(r.check(&c).is_ok());
        assert!(r.check(&ctx("", None, at(7, 1, 0), 0)).is_err());
    }

    #[test]
    fn first_holding_rule_decides_and_misses_say_why() {
        let rules = vec![
            rule(json!({"name": "a", "ticket_pattern": "^A"})),
            rule(json!({"name": "b", "max_live_leases": 1})),
        ];
        assert_eq!(
            first_holding(&rules, &ctx("", Some("B"), at(7, 1, 0), 0))
                .unwrap()
                .name,
            "b"
        );
        let misses = first_holding(&rules, &ctx("", Some("B"), at(7, 1, 0), 5)).unwrap_err();
        assert_eq!(misses.len(), 2);
        assert!(misses[0].starts_with("a: ticket"), "{misses:?}");
    }

    #[test]
    fn bad_rules_are_refused() {
        for (v, needle) in [
            (json!({"name": "x"}), "no condition"),
            (json!({"hours": "08:00-18:00"}), "name"),
            (
                json!({"name": "x", "ticket_pattern": "(["}),
                "ticket_pattern",
            ),
            (json!({"name": "x", "hours": "8-18"}), "hours"),
            (json!({"name": "x", "hours": "25:00-26:00"}), "hours"),
            (json!({"name": "x", "hours": "08:00-08:00"}), "empty"),
            (json!({"name": "x", "weekdays": ["funday"]}), "weekdays"),
            (
                json!({"name": "x", "max_live_leases": -1}),
                "max_live_leases",
            ),
            (json!({"name": "x", "always": true}), "unknown key"),
            (json!({"name": "x", "workloads": ["*"]}), "every workload"),
        ] {
            let e = AutoRule::parse(&v).unwrap_err();
            assert!(e.contains(needle), "{v}: {e}");
        }
        let r = rule(json!({"name": "x", "hours": "08:30-24:00", "weekdays": "Sat,sun"}));
        assert_eq!(r.to_json()["hours"], "08:30-24:00");
        assert_eq!(r.weekdays, ["sat", "sun"]);
    }
}
