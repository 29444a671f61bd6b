//! Times as providers write them: a provider's local wall-clock time (`yyyy-MM-dd
//! HH:mm:ss` at a fixed UTC offset, Alipay's format), and RFC 3339 with an offset
//! (`2018-06-08T10:34:56+08:00`, WeChat Pay v3's format), both to and from paygate's Unix
//! seconds.
//!
//! (Named `datetime`, not `time`, so that `use paygate_sdk::*` does not make the `time`
//! crate's name ambiguous in an adapter that uses it.)

use time::format_description::well_known::Rfc3339;
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

use crate::UnixSeconds;

/// Beijing time, UTC+8, in seconds east of UTC: China Standard Time, in which both Chinese
/// providers write their times. Alipay: the common parameter `timestamp`, "发送请求的时间，格式
/// "yyyy-MM-dd HH:mm:ss"" (https://opendocs.alipay.com/open/02ekfg), Java SDK
/// `AlipayConstants.DATE_TIMEZONE` `GMT+8`. WeChat Pay v3: `time_expire` of JSAPI下单 and the
/// times it returns, "遵循rfc3339标准格式 … +08:00表示东八区时间，领先UTC8小时，即北京时间".
pub const BEIJING: i32 = 8 * 60 * 60;

/// The offset, if less than a day either way (the `time` crate would take up to 25:59:59;
/// no zone is more than 14 hours from UTC).
fn offset(utc_offset_seconds: i32) -> Option<UtcOffset> {
    if utc_offset_seconds.unsigned_abs() >= 24 * 60 * 60 {
        return None;
    }
    UtcOffset::from_whole_seconds(utc_offset_seconds).ok()
}

/// `at` as the wall-clock time `utc_offset_seconds` east of UTC, `yyyy-MM-dd HH:mm:ss`
/// (`local_time(0, BEIJING)` is `1970-01-01 08:00:00`). `None` for an offset of a day or
/// more, or an instant whose year there is not four digits (before 0000 or after 9999).
pub fn local_time(at: UnixSeconds, utc_offset_seconds: i32) -> Option<String> {
    let t = OffsetDateTime::from_unix_timestamp(at)
        .ok()?
        .checked_to_offset(offset(utc_offset_seconds)?)?;
    if !(0..=9999).contains(&t.year()) {
        return None;
    }
    Some(format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    ))
}

/// A wall-clock time `utc_offset_seconds` east of UTC, exactly `yyyy-MM-dd HH:mm:ss` (every
/// field its number of ASCII digits, a real date and time), as Unix seconds. `None` for
/// anything else: another separator, a missing or extra field, fractional seconds, an offset
/// or zone in the text, `2026-02-30`, `24:00:00`, a leap second.
pub fn parse_local_time(text: &str, utc_offset_seconds: i32) -> Option<UnixSeconds> {
    let (date, time) = text.split_once(' ')?;
    let mut d = date.splitn(3, '-');
    let mut t = time.splitn(3, ':');
    let number = |part: Option<&str>, digits: usize| -> Option<u32> {
        let part = part?;
        (part.len() == digits && part.bytes().all(|b| b.is_ascii_digit()))
            .then(|| part.parse().ok())
            .flatten()
    };
    let year = i32::try_from(number(d.next(), 4)?).ok()?;
    let month = Month::try_from(u8::try_from(number(d.next(), 2)?).ok()?).ok()?;
    let day = u8::try_from(number(d.next(), 2)?).ok()?;
    let hour = u8::try_from(number(t.next(), 2)?).ok()?;
    let minute = u8::try_from(number(t.next(), 2)?).ok()?;
    let second = u8::try_from(number(t.next(), 2)?).ok()?;
    let at = PrimitiveDateTime::new(
        Date::from_calendar_date(year, month, day).ok()?,
        Time::from_hms(hour, minute, second).ok()?,
    );
    Some(
        at.assume_offset(offset(utc_offset_seconds)?)
            .unix_timestamp(),
    )
}

/// `at` in RFC 3339, to the second, at `utc_offset_seconds` east of UTC:
/// `2018-06-08T10:34:56+08:00` (`Z` for UTC). `None` for an offset that is not whole
/// minutes (RFC 3339 cannot write it) or of a day or more, or an instant whose year there is
/// not four digits.
pub fn rfc3339(at: UnixSeconds, utc_offset_seconds: i32) -> Option<String> {
    OffsetDateTime::from_unix_timestamp(at)
        .ok()?
        .checked_to_offset(offset(utc_offset_seconds)?)?
        .format(&Rfc3339)
        .ok()
}

/// An RFC 3339 time, with any offset (`Z`, `+08:00`, `-05:00`) and optional fractional
/// seconds (dropped: the result is the whole second it falls in), as Unix seconds; a space
/// for the `T` is taken too (RFC 3339 section 5.6 allows it). `None` for text that is not
/// RFC 3339: no offset, a missing field, an impossible date.
pub fn parse_rfc3339(text: &str) -> Option<UnixSeconds> {
    OffsetDateTime::parse(text, &Rfc3339)
        .ok()
        .map(OffsetDateTime::unix_timestamp)
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2026-11-23T02:34:56Z
    const AT: UnixSeconds = 1_795_401_296;

    #[test]
    fn beijing_is_eight_hours_east_of_utc() {
        assert_eq!(BEIJING, 28_800);
        assert_eq!(
            local_time(0, BEIJING).as_deref(),
            Some("1970-01-01 08:00:00")
        );
    }

    #[test]
    fn local_time_is_the_wall_clock_at_the_offset() {
        assert_eq!(
            local_time(AT, BEIJING).as_deref(),
            Some("2026-11-23 10:34:56")
        );
        assert_eq!(local_time(AT, 0).as_deref(), Some("2026-11-23 02:34:56"));
        assert_eq!(
            local_time(AT, -5 * 3600).as_deref(),
            Some("2026-11-22 21:34:56")
        );
        assert_eq!(
            local_time(AT, 5 * 3600 + 45 * 60).as_deref(),
            Some("2026-11-23 08:19:56")
        );
        assert_eq!(local_time(-1, 0).as_deref(), Some("1969-12-31 23:59:59"));
        assert_eq!(
            local_time(951_782_400, 0).as_deref(),
            Some("2000-02-29 00:00:00"),
            "a leap day"
        );
    }

    #[test]
    fn local_time_refuses_what_it_cannot_write() {
        assert_eq!(local_time(i64::MAX, BEIJING), None);
        assert_eq!(local_time(i64::MIN, BEIJING), None);
        assert_eq!(local_time(AT, 24 * 3600), None, "an offset of a day");
        // 9999-12-31T23:59:59Z: the last second with four digits, not the one after, nor
        // its next day in Beijing.
        assert_eq!(
            local_time(253_402_300_799, 0).as_deref(),
            Some("9999-12-31 23:59:59")
        );
        assert_eq!(local_time(253_402_300_799, BEIJING), None);
        // 0000-01-01T00:00:00Z, and a second before it.
        assert_eq!(
            local_time(-62_167_219_200, 0).as_deref(),
            Some("0000-01-01 00:00:00")
        );
        assert_eq!(local_time(-62_167_219_201, 0), None);
    }

    #[test]
    fn local_time_is_read_at_the_offset() {
        assert_eq!(parse_local_time("2026-11-23 10:34:56", BEIJING), Some(AT));
        assert_eq!(parse_local_time("2026-11-23 02:34:56", 0), Some(AT));
        assert_eq!(parse_local_time("2026-11-22 21:34:56", -5 * 3600), Some(AT));
        assert_eq!(parse_local_time("1970-01-01 08:00:00", BEIJING), Some(0));
        assert_eq!(
            parse_local_time("2024-02-29 00:00:00", 0),
            Some(1_709_164_800)
        );
    }

    #[test]
    fn every_instant_round_trips_through_its_local_time() {
        for at in [
            0,
            1,
            -1,
            AT,
            1_709_164_800,
            253_402_271_999,
            -62_167_219_200 + 8 * 3600,
        ] {
            for offset in [BEIJING, 0, -5 * 3600, 5 * 3600 + 30 * 60] {
                let text = local_time(at, offset).expect("a writable time");
                assert_eq!(parse_local_time(&text, offset), Some(at), "{text}");
            }
        }
    }

    #[test]
    fn text_that_is_not_yyyy_mm_dd_hh_mm_ss_is_refused() {
        for bad in [
            "",
            "2026-11-23T10:34:56",
            "2026-11-23  10:34:56",
            "2026-11-23 10:34",
            "2026-11-23 10:34:56:00",
            "2026-11-23 10:34:56.000",
            "2026-11-23 10:34:56+08:00",
            "2026-11-23 10:34:5",
            "2026-13-01 00:00:00",
            "2026-00-01 00:00:00",
            "2026-02-30 00:00:00",
            "2026-11-23 24:00:00",
            "2026-11-23 23:60:00",
            "2026-12-31 23:59:60",
            "26-11-23 10:34:56",
            "+2026-11-23 10:34:56",
            "2026-1-23 10:34:56",
            "2026-11-23 1:34:56",
            "２０２６-11-23 10:34:56",
            " 2026-11-23 10:34:56",
            "2026-11-23 10:34:56 ",
            "2026/11/23 10:34:56",
        ] {
            assert_eq!(parse_local_time(bad, BEIJING), None, "{bad:?}");
        }
        assert_eq!(parse_local_time("2026-11-23 10:34:56", 24 * 3600), None);
    }

    #[test]
    fn rfc3339_is_written_to_the_second_with_the_offset() {
        assert_eq!(
            rfc3339(AT, BEIJING).as_deref(),
            Some("2026-11-23T10:34:56+08:00")
        );
        assert_eq!(
            rfc3339(0, BEIJING).as_deref(),
            Some("1970-01-01T08:00:00+08:00")
        );
        assert_eq!(rfc3339(AT, 0).as_deref(), Some("2026-11-23T02:34:56Z"));
        assert_eq!(
            rfc3339(AT, -5 * 3600).as_deref(),
            Some("2026-11-22T21:34:56-05:00")
        );
        assert_eq!(rfc3339(i64::MAX, BEIJING), None);
        assert_eq!(rfc3339(AT, 30), None, "RFC 3339 has no offset seconds");
        assert_eq!(rfc3339(AT, -24 * 3600), None);
    }

    #[test]
    fn rfc3339_is_read_with_any_offset_and_fractional_seconds() {
        for text in [
            "2026-11-23T10:34:56+08:00",
            "2026-11-23T10:34:56.000+08:00",
            "2026-11-23T02:34:56Z",
            "2026-11-23T02:34:56.5Z",
            "2026-11-23T02:34:56.999999999Z",
            "2026-11-22T21:34:56-05:00",
            "2026-11-23 10:34:56+08:00",
        ] {
            assert_eq!(parse_rfc3339(text), Some(AT), "{text}");
        }
        for offset in [BEIJING, 0, -5 * 3600] {
            let text = rfc3339(AT, offset).expect("a writable time");
            assert_eq!(parse_rfc3339(&text), Some(AT), "{text}");
        }
    }

    #[test]
    fn text_that_is_not_rfc3339_is_refused() {
        for bad in [
            "",
            "2026-11-23 10:34:56",
            "2026-11-23T10:34:56",
            "2026-11-23T10:34+08:00",
            "2026-11-23T10:34:56+0800",
            "2026-02-30T10:34:56+08:00",
            "1795401296",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad:?}");
        }
    }
}
