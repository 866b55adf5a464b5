//! The two date formats the trust layer meets: RFC 2822 dates as written in `Release`
//! files (`Date: Sat, 10 Aug 2024 09:10:27 UTC`) and ISO 8601 UTC for our own messages.
//!
//! Both work on unix seconds (`i64`); no time zone database and no wall clock are involved.
//! The parser accepts what apt's `RFC1123StrToTime` accepts in practice: an optional
//! weekday, a one- or two-digit day, an English month abbreviation, a four-digit year,
//! `HH:MM` or `HH:MM:SS`, and a zone written as `UTC`, `GMT`, `UT`, `Z` or a numeric
//! `+HHMM`/`-HHMM` offset. Anything else is `None`.

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// Parses an RFC 2822 date such as `Sat, 10 Aug 2024 09:10:27 UTC` into unix seconds.
///
/// The weekday, when present, must be a valid abbreviation but is not cross-checked
/// against the date (apt does not either).
pub fn parse_rfc2822(text: &str) -> Option<i64> {
    let mut rest = text.trim();
    if let Some((weekday, after)) = rest.split_once(',') {
        if !WEEKDAYS
            .iter()
            .any(|known| weekday.trim().eq_ignore_ascii_case(known))
        {
            return None;
        }
        rest = after;
    }
    let mut words = rest.split_ascii_whitespace();
    let day: u32 = parse_digits(words.next()?, 1, 2)?;
    let month_word = words.next()?;
    let month = MONTHS
        .iter()
        .position(|known| month_word.eq_ignore_ascii_case(known))?;
    let year: i64 = i64::from(parse_digits(words.next()?, 4, 4)?);
    let (hour, minute, second) = parse_time(words.next()?)?;
    let offset = match words.next() {
        Some(zone) => parse_zone(zone)?,
        None => return None,
    };
    if words.next().is_some() {
        return None;
    }
    let month = u32::try_from(month).ok()? + 1;
    if day == 0 || day > days_in_month(year, month) {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some(
        days * 86_400 + i64::from(hour) * 3600 + i64::from(minute) * 60 + i64::from(second)
            - offset,
    )
}

/// Formats unix seconds as ISO 8601 UTC, e.g. `2024-08-10T09:10:27Z`.
pub fn format_iso8601(seconds: i64) -> String {
    let days = seconds.div_euclid(86_400);
    let in_day = seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        in_day / 3600,
        (in_day / 60) % 60,
        in_day % 60
    )
}

fn parse_digits(word: &str, min: usize, max: usize) -> Option<u32> {
    if word.len() < min || word.len() > max || !word.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    word.parse().ok()
}

fn parse_time(word: &str) -> Option<(u32, u32, u32)> {
    let mut parts = word.split(':');
    let hour = parse_digits(parts.next()?, 2, 2)?;
    let minute = parse_digits(parts.next()?, 2, 2)?;
    let second = match parts.next() {
        Some(part) => parse_digits(part, 2, 2)?,
        None => 0,
    };
    // 60 is a leap second; it is folded into the next minute like mktime does.
    if parts.next().is_some() || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    Some((hour, minute, second))
}

/// The zone's offset from UTC in seconds (east positive).
fn parse_zone(word: &str) -> Option<i64> {
    if ["UTC", "GMT", "UT", "Z"]
        .iter()
        .any(|known| word.eq_ignore_ascii_case(known))
    {
        return Some(0);
    }
    let (sign, digits) = match word.as_bytes().first()? {
        b'+' => (1, &word[1..]),
        b'-' => (-1, &word[1..]),
        _ => return None,
    };
    let value = parse_digits(digits, 4, 4)?;
    let (hours, minutes) = (value / 100, value % 100);
    if hours > 23 || minutes > 59 {
        return None;
    }
    Some(sign * i64::from(hours * 3600 + minutes * 60))
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month = i64::from(month);
    let day_of_year =
        (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Inverse of [`days_from_civil`].
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
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
