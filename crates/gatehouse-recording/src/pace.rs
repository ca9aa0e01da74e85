//! Timing for `gatehouse sessions replay --speed F`: pairs each event or timeline line with how
//! long to wait before showing it. The library never sleeps, so this stays testable and the
//! CLI chooses how to wait.

use crate::error::RecordingError;
use crate::event::RecordingEvent;
use crate::timeline::TimelineLine;
use std::time::Duration;

/// Something stamped with microseconds since the session started.
pub trait Timed {
    fn at_us(&self) -> u64;
}

impl Timed for RecordingEvent {
    fn at_us(&self) -> u64 {
        self.at_us
    }
}

impl Timed for TimelineLine {
    fn at_us(&self) -> u64 {
        self.at_us
    }
}

/// Wraps events or timeline lines and yields `(delay, item)`: the delay is the time since the
/// previous item divided by the speed (2.0 replays twice as fast), zero for the first item,
/// and at most the optional cap so idle hours do not stall a replay. Errors pass through.
#[derive(Debug)]
pub struct Paced<I> {
    items: I,
    speed: f64,
    max_delay: Option<Duration>,
    previous_at_us: Option<u64>,
}

impl<I> Paced<I> {
    /// Paces `items` at `speed`, which must be a positive, finite number.
    pub fn new(items: I, speed: f64) -> Result<Self, RecordingError> {
        if !(speed.is_finite() && speed > 0.0) {
            return Err(RecordingError::InvalidConfig(format!(
                "replay speed must be a positive number, not {speed}"
            )));
        }
        Ok(Paced {
            items,
            speed,
            max_delay: None,
            previous_at_us: None,
        })
    }

    /// Never waits longer than `max` between two items.
    pub fn max_delay(mut self, max: Duration) -> Self {
        self.max_delay = Some(max);
        self
    }
}

impl<I, T> Iterator for Paced<I>
where
    I: Iterator<Item = Result<T, RecordingError>>,
    T: Timed,
{
    type Item = Result<(Duration, T), RecordingError>;

    fn next(&mut self) -> Option<Self::Item> {
        let item = match self.items.next()? {
            Ok(item) => item,
            Err(error) => return Some(Err(error)),
        };
        let at_us = item.at_us();
        let gap_us = self
            .previous_at_us
            .map_or(0, |previous| at_us.saturating_sub(previous));
        self.previous_at_us = Some(at_us);
        let delay =
            Duration::try_from_secs_f64(gap_us as f64 / 1e6 / self.speed).unwrap_or(Duration::MAX);
        let delay = self.max_delay.map_or(delay, |max| delay.min(max));
        Some(Ok((delay, item)))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

    use super::*;

    fn line(at_us: u64) -> Result<TimelineLine, RecordingError> {
        Ok(TimelineLine {
            at_us,
            text: String::new(),
        })
    }

    fn delays(
        paced: impl Iterator<Item = Result<(Duration, TimelineLine), RecordingError>>,
    ) -> Vec<Duration> {
        paced.map(|item| item.unwrap().0).collect()
    }

    fn lines() -> impl Iterator<Item = Result<TimelineLine, RecordingError>> {
        [5_000_000, 5_000_000, 6_000_000, 9_000_000]
            .into_iter()
            .map(line)
    }

    #[test]
    fn delays_are_gaps_divided_by_speed() {
        let real = Paced::new(lines(), 1.0).unwrap();
        assert_eq!(
            delays(real),
            [
                Duration::ZERO,
                Duration::ZERO,
                Duration::from_secs(1),
                Duration::from_secs(3)
            ]
        );
        let fast = Paced::new(lines(), 2.0).unwrap();
        assert_eq!(delays(fast)[3], Duration::from_millis(1500));
        let capped = Paced::new(lines(), 0.5)
            .unwrap()
            .max_delay(Duration::from_secs(4));
        assert_eq!(
            delays(capped)[2..],
            [Duration::from_secs(2), Duration::from_secs(4)]
        );
    }

    #[test]
    fn rejects_nonsense_speeds_and_passes_errors_through() {
        for speed in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(
                Paced::new(
                    std::iter::empty::<Result<TimelineLine, RecordingError>>(),
                    speed
                )
                .is_err()
            );
        }
        let items = vec![line(1), Err(RecordingError::NotARecording)];
        let mut paced = Paced::new(items.into_iter(), f64::MIN_POSITIVE).unwrap();
        assert_eq!(paced.next().unwrap().unwrap().0, Duration::ZERO);
        assert!(matches!(
            paced.next(),
            Some(Err(RecordingError::NotARecording))
        ));
    }
}
