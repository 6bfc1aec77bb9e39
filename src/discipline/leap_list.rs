//! The IERS leap-second list (`leap-seconds.list`, as Debian's tzdata ships
//! it in /usr/share/zoneinfo): TAI - UTC at a UTC time, for as long as the
//! list has not expired. Parsing only; the file is read in `sys`.

/// Seconds from the NTP epoch (1900) to the Unix epoch (1970).
const NTP_TO_UNIX: i64 = 2_208_988_800;

/// The list: from each Unix time on, TAI - UTC; valid until `expires`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LeapList {
    /// (Unix seconds, TAI - UTC from then on), in order.
    entries: Vec<(i64, i32)>,
    /// Unix seconds: past this the list may miss a leap second.
    expires: i64,
}

impl LeapList {
    /// Parses the list's text: `#@ <NTP seconds>` is its expiry; each line
    /// not a comment is `<NTP seconds> <TAI - UTC> [# comment]`. None for a
    /// list without an expiry or an entry, or with entries out of order.
    pub fn parse(text: &str) -> Option<LeapList> {
        let mut list = LeapList::default();
        let mut expires = None;
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("#@") {
                expires = Some(rest.trim().parse::<i64>().ok()? - NTP_TO_UNIX);
                continue;
            }
            let data = line.split('#').next().unwrap_or("");
            let mut fields = data.split_whitespace();
            let (Some(at), Some(offset)) = (fields.next(), fields.next()) else { continue };
            let at = at.parse::<i64>().ok()? - NTP_TO_UNIX;
            let offset = offset.parse::<i32>().ok()?;
            if list.entries.last().is_some_and(|&(last, _)| last >= at) {
                return None;
            }
            list.entries.push((at, offset));
        }
        list.expires = expires?;
        (!list.entries.is_empty()).then_some(list)
    }

    /// TAI - UTC at Unix time `unix_secs` (UTC), if the list covers it.
    pub fn tai_offset(&self, unix_secs: i64) -> Option<i32> {
        if unix_secs >= self.expires {
            return None;
        }
        let k = self.entries.partition_point(|&(at, _)| at <= unix_secs);
        k.checked_sub(1).map(|k| self.entries[k].1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIST: &str = "#\tcomment\n#$\t 3676924800\n#@\t3991593600\n2272060800\t10\t# 1 Jan 1972\n\
                        3644697600\t36\t# 1 Jul 2015\n3692217600\t37\t# 1 Jan 2017\n#h\t49db2447 571e5e1b\n";

    #[test]
    fn offsets_before_between_after_and_past_expiry() {
        let l = LeapList::parse(LIST).expect("parses");
        assert_eq!(l.expires, 3991593600 - NTP_TO_UNIX);
        assert_eq!(l.tai_offset(0), None, "1970: before the list");
        assert_eq!(l.tai_offset(3692217600 - NTP_TO_UNIX - 1), Some(36), "the last second of 2016");
        assert_eq!(l.tai_offset(3692217600 - NTP_TO_UNIX), Some(37), "2017 on");
        assert_eq!(l.tai_offset(l.expires - 1), Some(37));
        assert_eq!(l.tai_offset(l.expires), None, "expired: a leap second may have come");
    }

    #[test]
    fn a_broken_list_is_refused() {
        assert_eq!(LeapList::parse(""), None);
        assert_eq!(LeapList::parse("2272060800\t10\n"), None, "no expiry");
        assert_eq!(LeapList::parse("#@\t3991593600\n"), None, "no entry");
        assert_eq!(LeapList::parse("#@\t3991593600\n3644697600\t36\n2272060800\t10\n"), None, "out of order");
        assert_eq!(LeapList::parse("#@\t3991593600\n2272060800\tten\n"), None);
    }
}
