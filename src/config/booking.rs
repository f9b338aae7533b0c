//! `[appointments]`: how the halls take bookings (预约).

use serde::Deserialize;

use super::{ConfigError, err};
use crate::domain::BookingLimits;

/// `[appointments]` as written in the file; every hall takes them alike.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BookingSettings {
    /// A slot's length in minutes (5 to 240, dividing a day); slots start
    /// on its multiples from midnight. Default 30.
    pub slot_min: u32,
    /// Bookings a service takes per slot (1 to 1000). Default 4.
    pub per_slot: u32,
    /// Check-in opens this many minutes before the slot (0 to 240). Default 30.
    pub early_min: u32,
    /// Check-in closes this many minutes after the slot starts (0 to 240);
    /// a booking not checked in by then is 爽约. Default 15. (A checked-in
    /// holder still waiting after the slot started is the supervision rule
    /// `appointment_wait`, set in `[defaults.rules]`.)
    pub late_min: u32,
}

impl Default for BookingSettings {
    fn default() -> Self {
        let d = BookingLimits::default();
        Self {
            slot_min: d.slot_min,
            per_slot: d.per_slot,
            early_min: d.early_min,
            late_min: d.late_min,
        }
    }
}

impl BookingSettings {
    /// Checked, as the domain's limits.
    pub fn resolve(&self) -> Result<BookingLimits, ConfigError> {
        let within = |v: u32, field: &str, min: u32, max: u32| {
            if (min..=max).contains(&v) {
                Ok(v)
            } else {
                Err(err(
                    format!("appointments.{field}"),
                    format!("must be {min} to {max}"),
                ))
            }
        };
        let slot_min = within(self.slot_min, "slot_min", 5, 240)?;
        if !1440u32.is_multiple_of(slot_min) {
            return Err(err(
                "appointments.slot_min",
                "must divide a day (5, 10, 15, 20, 30, 60, 120 …)",
            ));
        }
        Ok(BookingLimits {
            slot_min,
            per_slot: within(self.per_slot, "per_slot", 1, 1000)?,
            early_min: within(self.early_min, "early_min", 0, 240)?,
            late_min: within(self.late_min, "late_min", 0, 240)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booking_limits_default_and_name_the_field_they_refuse() {
        assert_eq!(
            BookingSettings::default().resolve().unwrap(),
            BookingLimits::default()
        );
        let s = BookingSettings {
            slot_min: 25,
            ..Default::default()
        };
        assert_eq!(s.resolve().unwrap_err().field, "appointments.slot_min");
        let s = BookingSettings {
            per_slot: 0,
            ..Default::default()
        };
        assert_eq!(s.resolve().unwrap_err().field, "appointments.per_slot");
    }
}
