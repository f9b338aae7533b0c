//! With `[cluster]`, a supervisors' console over halls that several
//! instances run (a city's office over counties in different partitions):
//! the console of each of those instances for its own halls of the scope,
//! merged into one. The first message is their snapshots as one snapshot;
//! then every message of each is passed on as it comes, and an action on an
//! alert goes to the console of the instance running the alert's hall,
//! whose answer comes back the same way. When any of them goes away (its
//! instance died, or handed the halls over), the console is closed with
//! 1012, reconnects and is merged again from the instances running the
//! halls then.

use std::time::Duration;

use actix_web::body::BoxBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::{FromRequest, web};
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio_tungstenite::tungstenite;
use tracing::info;

use super::forward::{ANSWER_WITHIN, Upstream, moving, refused, upstream_request};

/// The longest an instance's console may take to send its snapshot.
const SNAPSHOT_WITHIN: Duration = Duration::from_secs(5);

/// Opens one console of each instance at `addresses` (this one's own
/// among them, by its address), merges their snapshots and relays.
pub(super) async fn open(
    req: ServiceRequest,
    addresses: Vec<String>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    super::ws::handshake(req.request())?;
    let mut upstreams: Vec<Upstream> = Vec::with_capacity(addresses.len());
    for address in &addresses {
        let Some(request) = upstream_request(req.request(), address) else {
            return Ok(req.into_response(moving()));
        };
        let connect = tokio_tungstenite::connect_async_with_config(request, None, true);
        match tokio::time::timeout(ANSWER_WITHIN, connect).await {
            Ok(Ok((ws, _))) => upstreams.push(ws),
            Ok(Err(tungstenite::Error::Http(refusal))) => {
                return Ok(req.into_response(refused(*refusal)));
            }
            _ => {
                info!(%address, "Could not open a console's part on the instance running its halls.");
                return Ok(req.into_response(moving()));
            }
        }
    }
    // Each part's snapshot, and which halls each part holds.
    let mut snapshots = Vec::with_capacity(upstreams.len());
    for up in &mut upstreams {
        match first_snapshot(up).await {
            Some(s) => snapshots.push(s),
            None => return Ok(req.into_response(moving())),
        }
    }
    let halls: Vec<Vec<String>> = snapshots.iter().map(halls_of).collect();
    let merged = merge(snapshots);
    let (http, mut payload) = req.into_parts();
    let payload = web::Payload::from_request(&http, &mut payload).await?;
    let (res, mut session, stream) = actix_ws::handle(&http, payload)?;
    let stream = stream.max_frame_size(super::ws::MAX_FRAME);
    if session.text(merged.to_string()).await.is_ok() {
        actix_web::rt::spawn(relay(session, stream, upstreams, halls));
    }
    Ok(ServiceResponse::new(http, res))
}

/// A part's first message, which must be its snapshot.
async fn first_snapshot(up: &mut Upstream) -> Option<Value> {
    let deadline = tokio::time::Instant::now() + SNAPSHOT_WITHIN;
    loop {
        let m = tokio::time::timeout_at(deadline, up.next())
            .await
            .ok()??
            .ok()?;
        if let tungstenite::Message::Text(t) = m {
            let v: Value = serde_json::from_str(t.as_str()).ok()?;
            return (v["type"] == "snapshot").then_some(v);
        }
    }
}

/// The ids of the halls a part's snapshot holds.
fn halls_of(snapshot: &Value) -> Vec<String> {
    snapshot["halls"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|h| h["id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The parts' snapshots as one: their halls, alerts and cards together
/// (the console orders them itself), the alerts left out added up, the
/// latest time.
fn merge(snapshots: Vec<Value>) -> Value {
    let mut parts = snapshots.into_iter();
    let Some(mut whole) = parts.next() else {
        return Value::Null;
    };
    for part in parts {
        for key in ["halls", "alerts", "cards"] {
            if let (Some(into), Some(from)) = (
                whole.get_mut(key).and_then(Value::as_array_mut),
                part.get(key).and_then(Value::as_array),
            ) {
                into.extend(from.iter().cloned());
            }
        }
        let omitted = whole["alerts_omitted"].as_u64().unwrap_or(0)
            + part["alerts_omitted"].as_u64().unwrap_or(0);
        whole["alerts_omitted"] = omitted.into();
        if part["at"].as_str() > whole["at"].as_str() {
            whole["at"] = part["at"].clone();
        }
    }
    if let Some(cards) = whole.get_mut("cards").and_then(Value::as_array_mut) {
        cards.sort_by(|a, b| b["issued_at"].as_str().cmp(&a["issued_at"].as_str()));
    }
    whole
}

/// The part whose halls hold `alert` (its id starts with its hall's and a
/// `-`; the longest such hall), else the first.
fn part_of(alert: &str, halls: &[Vec<String>]) -> usize {
    let parts = halls
        .iter()
        .enumerate()
        .flat_map(|(i, hs)| hs.iter().map(move |h| (i, h)));
    crate::domain::hall_of_alert(alert, parts, |(_, h)| h.as_str()).map_or(0, |(i, _)| i)
}

/// Every part's messages to the console, and the console's actions to the
/// part running the alert's hall, until either side goes.
async fn relay(
    mut session: actix_ws::Session,
    mut client: actix_ws::MessageStream,
    upstreams: Vec<Upstream>,
    halls: Vec<Vec<String>>,
) {
    use actix_ws::{CloseCode, CloseReason, Message};
    let (mut senders, receivers): (Vec<_>, Vec<_>) =
        upstreams.into_iter().map(|u| u.split()).unzip();
    let mut from_parts = futures_util::stream::select_all(receivers);
    let restart = CloseReason {
        code: CloseCode::Restart,
        description: Some("halls moved between instances; reconnect".into()),
    };
    let reason = loop {
        tokio::select! {
            m = client.next() => match m {
                Some(Ok(Message::Text(t))) => {
                    let alert: Option<String> = serde_json::from_str::<Value>(&t)
                        .ok()
                        .and_then(|v| v["alert"].as_str().map(str::to_owned));
                    let i = alert.map_or(0, |a| part_of(&a, &halls));
                    if senders[i].send(tungstenite::Message::text(t.to_string())).await.is_err() {
                        break Some(restart);
                    }
                }
                Some(Ok(Message::Ping(p))) => {
                    if session.pong(&p).await.is_err() {
                        break None;
                    }
                }
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break None,
                Some(Ok(_)) => {}
            },
            m = from_parts.next() => match m {
                Some(Ok(tungstenite::Message::Text(t))) => {
                    if session.text(t.as_str().to_owned()).await.is_err() {
                        break None;
                    }
                }
                // Pings are answered by the socket itself.
                Some(Ok(tungstenite::Message::Ping(_) | tungstenite::Message::Pong(_))) => {}
                // A part closed or failed: its halls moved, or its instance died.
                _ => break Some(restart),
            },
        }
    };
    for tx in &mut senders {
        let _ = tx.close().await;
    }
    let _ = session.close(reason).await;
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn snapshots_merge_and_actions_find_their_part() {
        let a = json!({"type": "snapshot", "at": "2026-11-23T09:00:00+08:00",
            "halls": [{"id": "h1", "name": "一"}], "alerts": [{"id": "h1-1"}], "alerts_omitted": 1,
            "cards": [{"id": "c1", "issued_at": "2026-11-20T09:00:00Z"}], "clock_rate": 1.0});
        let b = json!({"type": "snapshot", "at": "2026-11-23T09:00:01+08:00",
            "halls": [{"id": "h10", "name": "十"}], "alerts": [{"id": "h10-2"}], "alerts_omitted": 2,
            "cards": [{"id": "c2", "issued_at": "2026-11-21T09:00:00Z"}], "clock_rate": 1.0});
        let halls = vec![halls_of(&a), halls_of(&b)];
        let m = merge(vec![a, b]);
        assert_eq!(m["halls"].as_array().unwrap().len(), 2);
        assert_eq!(m["alerts"].as_array().unwrap().len(), 2);
        assert_eq!(m["alerts_omitted"], 3);
        assert_eq!(m["at"], "2026-11-23T09:00:01+08:00");
        assert_eq!(m["cards"][0]["id"], "c2", "newest card first");
        assert_eq!(part_of("h10-2", &halls), 1, "the longest hall id that fits");
        assert_eq!(part_of("h1-1", &halls), 0);
        assert_eq!(part_of("nowhere-1", &halls), 0);
    }
}
