//! The domain core: halls, services, windows, tickets, the queue policy and
//! load against the benchmark.
//!
//! Pure: no I/O, no async, no clock. Every function takes `now` when time
//! matters, so a day can be replayed exactly and every rule tested to the second.

#[macro_use]
mod codes;

mod alert;
mod appraisal;
mod booking;
mod case_view;
mod cases;
mod casework;
mod checkpoint;
mod checks;
mod duty;
mod event;
mod flow;
mod hall;
mod ids;
mod lifecycle;
mod load;
mod office;
mod ops;
mod phone;
mod queue;
mod repeat;
mod rollup;
mod rules;
mod seen;
mod spec;
mod standing;
mod stats;
mod view;
mod wait;

pub use alert::{
    Action, Alert, AlertOp, AlertRefusal, AlertState, Facts, Finding, MAX_LISTED, Severity,
    Subject, hall_of_alert,
};
pub use appraisal::{
    Appraisal, AppraisalBy, AppraisalRow, CardCounts, Deductions, appraise, month_bounds,
};
pub use booking::{
    AppointmentFigures, Booking, BookingBook, BookingLimits, BookingRequest, BookingState,
    REFERENCE_MAX,
};
pub use case_view::{
    CardView, CaseBoard, CaseEntryView, CaseView, FollowUpView, NoteView, StepView,
};
pub use cases::{
    Card, CardKind, CardLimits, CardNote, CardOp, CardState, CardSubject, Case, CaseBook,
    CaseEffect, CaseEntry, CaseEvent, CaseOp, CaseRefusal, CaseState, FollowStep, FollowUp,
    FollowUpLimits, NewCase, NewFollowUp, PROMISED_DAYS_MAX, Reported, StepRecord, Suspension,
};
pub use checkpoint::{CheckpointError, checkpoint_key};
pub use checks::Aspects;
pub use duty::{
    Attendance, AttendanceLimits, Day, DaySet, Department, DutyPeriod, HallCalendar, Lapse,
    NationalCalendar, Session, Shift, StaffMember, add_working_days, duty_hours, is_working_day,
    union_hours,
};
pub use event::{
    CaseRef, ITEMS_MAX, Input, Outcome, PauseReason, Priority, RatingInput, Reason, Refusal, Reply,
    TicketRequest, UNRECORDED_REASON, WindowOp,
};
pub use hall::{
    Applied, CallRecord, DEDUP_WINDOW, Effect, Hall, RECENT_CALLS, RatingAudit, Staff, Ticket,
    TicketState, Visit, VisitEnd, WindowState, WindowStatus,
};
pub use ids::{
    DeviceId, HallId, IdError, MsgId, ServiceCode, StaffId, TicketNo, TicketToken, WindowId,
};
pub use lifecycle::MAX_NOTE;
pub use load::{ArrivalProfile, PROFILE_DAYS, Staffing, StaffingAdvice, WindowCapacity};
pub use phone::{PageWindow, TicketPage};
pub use queue::{QueueKey, Queues};
pub use rollup::{HallAdvice, RegionRow, roll_up};
pub use rules::{Def, Kind, Param, Rule, Setting, Thresholds};
pub use spec::{
    BenchmarkUnit, DeviceKind, HallLevel, HallSpec, OfficeHours, RegionLevel, ServiceSpec, Span,
    WindowKind, WindowSpec,
};
pub use stats::{AlertCount, AlertFigures, DayFigures, Figures, HourFigures};
pub use view::{
    AlertView, CallView, DashQueue, DashWindow, DashboardSnapshot, DisplaySnapshot, DisplayWindow,
    HallInfo, KpiView, QueueView, SummaryView, WindowView,
};

#[cfg(test)]
pub(crate) use tests::{spec as test_spec, weekday_rota, with_departments};

#[cfg(test)]
mod checks_tests;
#[cfg(test)]
mod figures_tests;
#[cfg(test)]
mod lifecycle_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod wait_tests;
