//! `SOURCE_DATE_EPOCH`-style seconds to the RFC 3339 UTC timestamp the image configuration
//! carries (`1970-01-01T00:00:00Z`): always `Z`, never fractional seconds, so one instant
//! has one spelling. The `time` crate does the calendar; no clock and no time-zone
//! database are consulted.

use time::format_description::well_known::Rfc3339;

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
    time::OffsetDateTime::from_unix_timestamp(seconds)
        .ok()
        .and_then(|instant| instant.format(&Rfc3339).ok())
        .ok_or(OciError::CreatedOutOfRange { seconds })
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
