//! `SOURCE_DATE_EPOCH`-style seconds to the RFC 3339 UTC timestamp the image configuration
//! carries (`1970-01-01T00:00:00Z`): always `Z`, never fractional seconds, so one instant
//! has one spelling. The calendar conversion is the proleptic Gregorian one of Howard
//! Hinnant's `civil_from_days`; no clock and no time-zone database are consulted.

use crate::OciError;

/// 0001-01-01T00:00:00Z.
const FIRST_SECOND: i64 = -62_135_596_800;
/// 9999-12-31T23:59:59Z.
const LAST_SECOND: i64 = 253_402_300_799;

/// `seconds` since 1970-01-01T00:00:00Z as `YYYY-MM-DDTHH:MM:SSZ`.
pub(crate) fn rfc3339(seconds: i64) -> Result<String, OciError> {
    if !(FIRST_SECOND..=LAST_SECOND).contains(&seconds) {
        return Err(OciError::CreatedOutOfRange { seconds });
    }
    let days = seconds.div_euclid(86_400);
    let second_of_day = seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    Ok(format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        second_of_day / 3600,
        second_of_day / 60 % 60,
        second_of_day % 60
    ))
}

/// The (year, month, day) of a count of days since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(seconds: i64, expected: &str) {
        assert_eq!(
            rfc3339(seconds).ok().as_deref(),
            Some(expected),
            "{seconds}"
        );
    }

    #[test]
    fn timestamps() {
        check(0, "1970-01-01T00:00:00Z");
        check(1_700_000_000, "2023-11-14T22:13:20Z");
        check(951_782_400, "2000-02-29T00:00:00Z");
        check(-1, "1969-12-31T23:59:59Z");
        check(FIRST_SECOND, "0001-01-01T00:00:00Z");
        check(LAST_SECOND, "9999-12-31T23:59:59Z");
        check(4_107_542_400, "2100-03-01T00:00:00Z");
    }

    #[test]
    fn out_of_range() {
        assert!(rfc3339(LAST_SECOND + 1).is_err());
        assert!(rfc3339(FIRST_SECOND - 1).is_err());
        assert!(rfc3339(i64::MIN).is_err());
    }
}
