//! Go-style duration strings: `300ms`, `30s`, `15m`, `1h`, `1h30m`, `1.5h`, and the maxima of
//! the duration settings: every setting has one, enforced at load, so no absurd value (e.g.
//! `3000000000h`) reaches the clock arithmetic of the server.

use std::time::Duration;

const HOUR: u64 = 3600;
/// Longest timeout (`http.*Timeout`, `syncPolicy.timeout`, `file.timeout`, `api.timeout`,
/// `kubernetes.timeout`), short-lived caches (`kubernetes.cacheTtl`) and short-cycle intervals
/// (`telemetry.metrics.interval`, `auth.oauth.keyRefreshInterval`): a day.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(24 * HOUR);
/// Longest interval (`syncPolicy.interval`, `api.fullSyncInterval`) and lifetime
/// (`auth.oauth.keyTtl`, `database.connMaxLifetime`): 30 days.
pub const MAX_INTERVAL: Duration = Duration::from_secs(30 * 24 * HOUR);
/// Longest `syncPolicy.tombstoneRetention`: 10 years of 365 days.
pub const MAX_RETENTION: Duration = Duration::from_secs(10 * 365 * 24 * HOUR);
/// Longest `auth.oauth.clockSkew`: 5 minutes.
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(300);

/// Parses a Go-style duration: one or more `<number><unit>` parts, units `ns`, `us`, `µs`, `ms`,
/// `s`, `m`, `h`; the number may have a fraction. `0` alone is zero.
///
/// # Errors
/// A message saying what is wrong and showing valid examples.
pub fn parse(raw: &str) -> Result<Duration, String> {
    let bad = || format!("`{raw}` is not a duration; use a number with a unit, e.g. `30s`, `15m`, `1h` or `1h30m`");
    let s = raw.trim();
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() {
        return Err(bad());
    }
    let mut rest = s;
    let mut total = 0f64;
    while !rest.is_empty() {
        let num_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).ok_or_else(bad)?;
        if num_len == 0 {
            return Err(bad());
        }
        let number: f64 = rest[..num_len].parse().map_err(|_| bad())?;
        rest = &rest[num_len..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let seconds = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        total += number * seconds;
        rest = &rest[unit_len..];
    }
    // Finite and non-negative by construction (digits and dots only), but it may be too large.
    Duration::try_from_secs_f64(total).map_err(|_| format!("`{raw}` is too long to be a duration"))
}

/// An optional duration setting: `default` when absent; when unreadable or longer than `max`, a
/// problem naming `key` is pushed and `default` returned (so every problem of a file is reported
/// at once).
pub fn setting(raw: Option<&str>, default: Duration, max: Duration, key: &str, problems: &mut Vec<String>) -> Duration {
    match raw.map(parse) {
        None => default,
        Some(Ok(d)) if d <= max => d,
        Some(Ok(_)) => {
            problems.push(format!(
                "`{key}`: `{}` is longer than the maximum, {}; the default is {}",
                raw.unwrap_or_default().trim(),
                format(max),
                format(default)
            ));
            default
        }
        Some(Err(e)) => {
            problems.push(format!("`{key}`: {e}"));
            default
        }
    }
}

/// Like [`setting`], for durations that must be longer than zero.
pub fn positive_setting(
    raw: Option<&str>,
    default: Duration,
    max: Duration,
    key: &str,
    problems: &mut Vec<String>,
) -> Duration {
    let d = setting(raw, default, max, key, problems);
    if d.is_zero() {
        problems.push(format!("`{key}`: must be more than 0; the default is {}", format(default)));
        return default;
    }
    d
}

/// Formats a duration the way Go prints it (`1h30m0s`, `5m0s`, `30s`, `500ms`).
pub fn format(d: Duration) -> String {
    thv_domain::spec::format_duration(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_parse() {
        let cases = [
            ("30s", 30_000),
            ("15m", 900_000),
            ("1h", 3_600_000),
            ("1h30m", 5_400_000),
            ("1.5h", 5_400_000),
            ("300ms", 300),
            ("2h45m10s", 9_910_000),
            ("0", 0),
            (" 5m ", 300_000),
        ];
        for (raw, ms) in cases {
            assert_eq!(parse(raw).unwrap(), Duration::from_millis(ms), "{raw}");
        }
        for bad in ["", "5", "m", "5 m", "1d", "-1s", "1h-", "abc", "1..5s"] {
            let err = parse(bad).unwrap_err();
            assert!(err.contains("e.g. `30s`"), "{bad}: {err}");
        }
    }

    #[test]
    fn numbers_too_large_are_errors_not_panics() {
        let huge = format!("{}h", "9".repeat(400));
        for raw in [huge.as_str(), "99999999999999999999999h", "1e400s", "NaNs", "-1h", "infs", "1h1e9999h"] {
            assert!(parse(raw).is_err(), "{raw}");
        }
        assert!(parse(&huge).unwrap_err().contains("is too long to be a duration"), "{huge}");
        // Large but representable: parsed, and left to the setting's maximum.
        assert_eq!(parse("3000000000h").unwrap(), Duration::from_secs(3_000_000_000 * 3600));
    }

    #[test]
    fn a_setting_over_its_maximum_names_the_key_and_the_maximum() {
        let mut problems = Vec::new();
        let d = setting(Some("25h"), Duration::from_secs(30), MAX_TIMEOUT, "x.timeout", &mut problems);
        assert_eq!(d, Duration::from_secs(30));
        assert_eq!(problems, ["`x.timeout`: `25h` is longer than the maximum, 24h0m0s; the default is 30s"]);
        let mut problems = Vec::new();
        assert_eq!(setting(Some("24h"), Duration::ZERO, MAX_TIMEOUT, "x", &mut problems), MAX_TIMEOUT);
        assert!(problems.is_empty(), "{problems:?}");
    }

    #[test]
    fn format_is_go_like() {
        assert_eq!(format(Duration::from_secs(5400)), "1h30m0s");
        assert_eq!(format(Duration::from_secs(300)), "5m0s");
        assert_eq!(format(Duration::from_secs(30)), "30s");
        assert_eq!(format(Duration::from_millis(250)), "250ms");
    }
}
