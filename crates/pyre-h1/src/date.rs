//! The `Date` field value (RFC 9110 section 6.6.1), formatted at most once a second.
//!
//! Formatting an IMF-fixdate costs far more than comparing two integers, and every
//! response carries one, so the value is cached and rebuilt only when the second
//! changes. A server calls [`DateCache::update`] from its periodic tick or per batch.

use std::time::{SystemTime, UNIX_EPOCH};

/// Length of an IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`.
pub const DATE_LEN: usize = 29;

#[derive(Debug, Clone)]
pub struct DateCache {
    value: [u8; DATE_LEN],
    second: u64,
}

impl Default for DateCache {
    fn default() -> Self {
        Self::new()
    }
}

impl DateCache {
    pub fn new() -> Self {
        let mut cache = DateCache {
            value: [b' '; DATE_LEN],
            second: u64::MAX,
        };
        cache.update(SystemTime::now());
        cache
    }

    /// Brings the cached value up to `now`; reformats only if the second changed.
    /// Returns true when it reformatted.
    pub fn update(&mut self, now: SystemTime) -> bool {
        let second = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        if second == self.second {
            return false;
        }
        self.second = second;
        let formatted = httpdate::fmt_http_date(now);
        self.value.copy_from_slice(&formatted.as_bytes()[..DATE_LEN]);
        true
    }

    /// The current value, as bytes ready to write.
    pub fn value(&self) -> &[u8] {
        &self.value
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn formats_imf_fixdate_and_caches_within_a_second() {
        let mut cache = DateCache::new();
        let t = UNIX_EPOCH + Duration::from_secs(784_111_777);
        assert!(cache.update(t));
        assert_eq!(cache.value(), b"Sun, 06 Nov 1994 08:49:37 GMT");
        assert!(!cache.update(t + Duration::from_millis(900)));
        assert!(cache.update(t + Duration::from_secs(1)));
        assert_eq!(cache.value(), b"Sun, 06 Nov 1994 08:49:38 GMT");
    }
}
