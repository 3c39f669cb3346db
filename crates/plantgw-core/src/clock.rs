//! The shared plant clock: plant time runs `speed` times faster than wall time
//! from an anchor, so a production day can pass in minutes.
//!
//! plant_now = start + (wall_now − anchor) × speed
//!
//! `anchor` is the wall-clock instant at which plant time equals `start`
//! (default: when the process started). Give the simulator and the gateway the
//! same `--start`, `--speed` and `--anchor` and they agree on plant time.
use jiff::{SignedDuration, Timestamp};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlantClock {
    start: Timestamp,
    anchor: Timestamp,
    speed: f64,
}

impl PlantClock {
    /// Real time: plant time is wall time.
    pub fn wall() -> Self {
        let now = Timestamp::now();
        PlantClock {
            start: now,
            anchor: now,
            speed: 1.0,
        }
    }

    /// `speed` must be finite and > 0 (callers validate user input).
    pub fn new(start: Timestamp, anchor: Timestamp, speed: f64) -> Self {
        PlantClock {
            start,
            anchor,
            speed,
        }
    }

    pub fn speed(&self) -> f64 {
        self.speed
    }

    pub fn start(&self) -> Timestamp {
        self.start
    }

    pub fn anchor(&self) -> Timestamp {
        self.anchor
    }

    /// Plant time for a given wall-clock instant.
    pub fn plant_at(&self, wall: Timestamp) -> Timestamp {
        let wall_elapsed = wall.duration_since(self.anchor);
        let plant_elapsed_ns = (wall_elapsed.as_nanos() as f64 * self.speed) as i128;
        let plant_elapsed = SignedDuration::from_nanos_i128(plant_elapsed_ns);
        self.start
            .checked_add(plant_elapsed)
            .unwrap_or(if plant_elapsed.is_negative() {
                Timestamp::MIN
            } else {
                Timestamp::MAX
            })
    }

    pub fn now(&self) -> Timestamp {
        self.plant_at(Timestamp::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speed_scales_elapsed_time() {
        let start: Timestamp = "2026-03-01T12:00:00Z".parse().unwrap();
        let anchor: Timestamp = "2026-11-28T00:00:00Z".parse().unwrap();
        let c = PlantClock::new(start, anchor, 720.0);
        let wall = anchor.checked_add(SignedDuration::from_secs(120)).unwrap();
        assert_eq!(
            c.plant_at(wall),
            "2026-03-02T12:00:00Z".parse::<Timestamp>().unwrap()
        );
    }
}
