//! The domain core: halls, services, windows, tickets, the queue policy and
//! load against the benchmark.
//!
//! Pure: no I/O, no async, no clock. Every function takes `now` when time
//! matters, so a day can be replayed exactly and every rule tested to the second.

mod alert;
mod checks;
mod event;
mod hall;
mod ids;
mod load;
mod office;
mod ops;
mod queue;
mod rules;
mod say;
mod spec;
mod standing;
mod stats;
mod view;

pub use alert::{
    Action, Alert, AlertOp, AlertRefusal, AlertState, Finding, Rule, Severity, Subject, Thresholds,
};
pub use event::{
    CaseRef, Input, Outcome, PauseReason, Priority, RatingInput, Reason, Refusal, Reply,
    TicketRequest, WindowOp,
};
pub use hall::{
    Applied, CallRecord, DEDUP_WINDOW, Effect, Hall, RECENT_CALLS, Staff, Ticket, TicketState,
    Visit, VisitEnd, WindowState, WindowStatus,
};
pub use ids::{DeviceId, HallId, IdError, MsgId, ServiceCode, StaffId, TicketNo, WindowId};
pub use load::{ArrivalProfile, PROFILE_DAYS, Staffing, StaffingAdvice};
pub use queue::{QueueKey, Queues};
pub use spec::{
    DeviceKind, HallLevel, HallSpec, OfficeHours, ServiceSpec, Span, WindowKind, WindowSpec,
};
pub use stats::{AlertCount, AlertFigures, DayFigures, Figures, HourFigures};
pub use view::{
    AlertView, CallView, DashQueue, DashWindow, DashboardSnapshot, DisplaySnapshot, DisplayWindow,
    HallInfo, KpiView, QueueView, SummaryView, WindowView,
};

#[cfg(test)]
pub(crate) use tests::spec as test_spec;

#[cfg(test)]
mod figures_tests;
#[cfg(test)]
mod rules_tests;
#[cfg(test)]
mod tests;
