//! Counting of repeated rate-limit rejections per actor, to open one anomaly per minute.

const MINUTE_MS: i64 = 60_000;

/// Rate-limited rejections of one actor in the current minute.
#[derive(Debug, Default)]
pub struct AnomalyWindow {
    minute: i64,
    rejections: u32,
    reported: bool,
}

/// An anomaly that just opened: the minute's start and its rejection count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnomalyOpened {
    /// Start of the minute, Unix milliseconds.
    pub window_start_ms: i64,
    /// Rejections counted so far in that minute.
    pub rejections: u32,
}

impl AnomalyWindow {
    /// Counts one rejection at `now_ms`; returns the anomaly the first time the count reaches
    /// `threshold` within a minute, and None for every other rejection of that minute.
    pub fn record(&mut self, now_ms: i64, threshold: u32) -> Option<AnomalyOpened> {
        let minute = now_ms.div_euclid(MINUTE_MS);
        if minute != self.minute {
            *self = AnomalyWindow {
                minute,
                rejections: 0,
                reported: false,
            };
        }

        self.rejections = self.rejections.saturating_add(1);
        if self.reported || self.rejections < threshold {
            return None;
        }
        self.reported = true;
        Some(AnomalyOpened {
            window_start_ms: minute.saturating_mul(MINUTE_MS),
            rejections: self.rejections,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn anomaly_opens_once_per_minute() {
        let mut window = AnomalyWindow::default();
        let opened: Vec<_> = (0..10)
            .filter_map(|i| window.record(60_000 + i, 3))
            .collect();
        assert_eq!(
            opened,
            vec![AnomalyOpened { window_start_ms: 60_000, rejections: 3 }]
        );

        assert_eq!(window.record(120_000, 3), None);
        assert_eq!(window.record(120_001, 3), None);
        assert!(window.record(120_002, 3).is_some());
    }
}
