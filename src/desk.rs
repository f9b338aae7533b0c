//! The demo's supervision desk (督查室): it works the bad reviews'
//! follow-ups (核实, 整改, 回访) through the same hall calls the REST routes
//! make, most of them in time and some late, so a demo's follow-ups move on
//! and their 黄牌 are the exception they are in a real hall.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tokio_util::sync::CancellationToken;
use tracing::debug;

use crate::clock::Clock;
use crate::domain::{FollowStep, FollowUpView, Input};
use crate::engine::Registry;

/// Who the desk's notes are written by.
pub const DESK: &str = "督查室（演示）";

/// Share of steps done after their deadline.
const LATE_SHARE: f64 = 0.12;

fn note(step: FollowStep) -> &'static str {
    match step {
        FollowStep::Verify => "已调取录像并联系办事人，情况属实",
        FollowStep::Rectify => "已约谈窗口人员，优化告知流程",
        FollowStep::CallBack => "已回访办事人，对整改表示认可",
    }
}

/// When the desk means to do a follow-up's current step: a while after
/// the step before (or the review), before its deadline or, for a few,
/// some hours after it.
fn plan(f: &FollowUpView, step: FollowStep, rng: &mut SmallRng) -> Option<DateTime<Utc>> {
    let current = f.steps.iter().find(|s| s.step == step)?;
    let due = current.due?.with_timezone(&Utc);
    let since = f
        .steps
        .iter()
        .filter(|s| s.step < step)
        .filter_map(|s| s.done.as_ref().map(|d| d.at.with_timezone(&Utc)))
        .max()
        .unwrap_or_else(|| f.opened_at.with_timezone(&Utc));
    if rng.random_bool(LATE_SHARE) {
        let hours = rng.random_range(1..30);
        return Some(due + chrono::Duration::hours(hours));
    }
    let span = (due - since).num_seconds().max(0) as f64;
    Some(since + chrono::Duration::seconds((span * rng.random_range(0.1..0.8)) as i64))
}

/// Runs the desk until `stop`: each real second it looks at every hall's
/// open follow-ups and does the steps whose planned time has come.
pub async fn run(registry: Registry, clock: Arc<dyn Clock>, seed: u64, stop: CancellationToken) {
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut plans: HashMap<(String, FollowStep), Option<DateTime<Utc>>> = HashMap::new();
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
        let now = clock.now();
        let mut open = std::collections::HashSet::new();
        for hall in registry.all() {
            let Some(board) = hall.case_board().await else {
                continue;
            };
            for f in &board.follow_ups {
                let Some(step) = f.current else { continue };
                open.insert((f.id.clone(), step));
                let at = *plans
                    .entry((f.id.clone(), step))
                    .or_insert_with(|| plan(f, step, &mut rng));
                if at.is_none_or(|at| at > now) {
                    continue;
                }
                let input = Input::FollowUpStep {
                    follow_up: f.id.clone(),
                    step,
                    by: DESK.into(),
                    note: note(step).into(),
                };
                if let Some(answer) = hall.casework(input).await {
                    debug!(?answer, follow_up = %f.id, "The desk recorded a follow-up step.");
                }
            }
        }
        // A step done, or a follow-up gone, needs no plan.
        plans.retain(|k, _| open.contains(k));
    }
}
