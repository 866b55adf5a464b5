//! Dates on the medium. Every date an image carries comes from one
//! `SOURCE_DATE_EPOCH`, read as UTC (GMT offset 0), so the same volume always gives the
//! same bytes. The epoch is turned into a civil date here (the days-to-civil algorithm
//! on the proleptic Gregorian calendar) and encoded in the two ECMA-119 forms: the
//! 7-byte directory-record date (years since 1900 in one byte, hence the 2155 limit)
//! and the 17-byte volume-descriptor date (`YYYYMMDDHHMMSScc` + GMT offset).

use crate::IsoError;

/// Seconds in a day.
const SECONDS_PER_DAY: i64 = 86_400;

/// Days from 1970-01-01 to 2156-01-01: the first day a directory-record date cannot
/// hold (its year byte counts from 1900).
const DAYS_TO_2156: i64 = 67_935;

/// The largest epoch an image can carry: 2155-12-31T23:59:59Z.
pub(crate) const MAXIMUM_EPOCH: i64 = DAYS_TO_2156 * SECONDS_PER_DAY - 1;

/// A volume-descriptor date meaning "not specified": sixteen ASCII zeros and offset 0.
pub(crate) const UNSET_DESCRIPTOR_DATE: [u8; 17] = *b"0000000000000000\0";

/// A UTC civil date and time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Timestamp {
    year: u16,
    month: u8,
    day: u8,
    hour: u8,
    minute: u8,
    second: u8,
}

impl Timestamp {
    /// The civil time of `epoch` (seconds since 1970, UTC); epochs before 1970 or
    /// after 2155 are refused.
    pub(crate) fn from_epoch(epoch: i64) -> Result<Timestamp, IsoError> {
        if !(0..=MAXIMUM_EPOCH).contains(&epoch) {
            return Err(IsoError::InvalidEpoch(epoch));
        }
        let days = epoch / SECONDS_PER_DAY;
        let seconds = epoch % SECONDS_PER_DAY;
        let (year, month, day) = civil_from_days(days);
        // The range check above bounds every field, so these conversions cannot fail.
        let narrow = |value: i64| u8::try_from(value).map_err(|_| IsoError::InvalidEpoch(epoch));
        Ok(Timestamp {
            year: u16::try_from(year).map_err(|_| IsoError::InvalidEpoch(epoch))?,
            month: narrow(month)?,
            day: narrow(day)?,
            hour: narrow(seconds / 3600)?,
            minute: narrow(seconds / 60 % 60)?,
            second: narrow(seconds % 60)?,
        })
    }

    /// The 7-byte directory-record form (ECMA-119 9.1.5), also used by Rock Ridge `TF`.
    pub(crate) fn record_bytes(&self) -> [u8; 7] {
        // Years 1970–2155 give 70–255.
        let years_since_1900 = u8::try_from(self.year.saturating_sub(1900)).unwrap_or(u8::MAX);
        [
            years_since_1900,
            self.month,
            self.day,
            self.hour,
            self.minute,
            self.second,
            0,
        ]
    }

    /// The 17-byte volume-descriptor form (ECMA-119 8.4.26.1): digits, hundredths
    /// of a second `00`, GMT offset 0.
    pub(crate) fn descriptor_bytes(&self) -> [u8; 17] {
        let mut bytes = [0u8; 17];
        let fields: [(u32, usize); 6] = [
            (u32::from(self.year), 4),
            (u32::from(self.month), 2),
            (u32::from(self.day), 2),
            (u32::from(self.hour), 2),
            (u32::from(self.minute), 2),
            (u32::from(self.second), 2),
        ];
        let mut at = 0;
        for (value, width) in fields {
            let mut value = value;
            for position in (at..at + width).rev() {
                bytes[position] = b'0' + (value % 10) as u8;
                value /= 10;
            }
            at += width;
        }
        bytes[14] = b'0';
        bytes[15] = b'0';
        bytes
    }
}

/// Year, month (1–12) and day (1–31) of the day `days` after 1970-01-01 (`days ≥ 0`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    // Shift the epoch to 0000-03-01 so leap days fall at the end of a year.
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(epoch: i64, descriptor: &str, record: [u8; 7]) {
        let timestamp = Timestamp::from_epoch(epoch).expect("epoch in range");
        let mut expected = descriptor.as_bytes().to_vec();
        expected.push(0);
        assert_eq!(
            timestamp.descriptor_bytes().to_vec(),
            expected,
            "epoch {epoch}"
        );
        assert_eq!(timestamp.record_bytes(), record, "epoch {epoch}");
    }

    #[test]
    fn known_dates() {
        check(0, "1970010100000000", [70, 1, 1, 0, 0, 0, 0]);
        check(951_782_400, "2000022900000000", [100, 2, 29, 0, 0, 0, 0]);
        check(
            1_700_000_000,
            "2023111422132000",
            [123, 11, 14, 22, 13, 20, 0],
        );
        check(
            4_107_542_399,
            "2100022823595900",
            [200, 2, 28, 23, 59, 59, 0],
        );
        check(4_107_542_400, "2100030100000000", [200, 3, 1, 0, 0, 0, 0]);
        check(
            MAXIMUM_EPOCH,
            "2155123123595900",
            [255, 12, 31, 23, 59, 59, 0],
        );
    }

    #[test]
    fn out_of_range_epochs_are_refused() {
        for epoch in [-1, MAXIMUM_EPOCH + 1, i64::MIN, i64::MAX] {
            assert!(matches!(
                Timestamp::from_epoch(epoch),
                Err(IsoError::InvalidEpoch(e)) if e == epoch
            ));
        }
    }

    #[test]
    fn every_day_round_trips() {
        // Walk day by day from 1970 to 2155 and check the calendar never skips or
        // repeats a day.
        let mut previous = civil_from_days(0);
        for days in 1..DAYS_TO_2156 {
            let current = civil_from_days(days);
            let (year, month, day) = previous;
            let next_day = (year, month, day + 1);
            let next_month = (year, month + 1, 1);
            let next_year = (year + 1, 1, 1);
            assert!(
                current == next_day || current == next_month || current == next_year,
                "{previous:?} -> {current:?}"
            );
            previous = current;
        }
        assert_eq!(previous, (2155, 12, 31));
    }
}
