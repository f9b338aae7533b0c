//! A hall's memory of message ids: the reply to each (device, id) of the
//! last 24 h, so a redelivered message is answered the same again and
//! changes nothing.

use std::collections::{HashMap, VecDeque};

use chrono::{DateTime, Utc};
use serde::de::{Error, SeqAccess, Visitor};
use serde::ser::SerializeSeq;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::event::Reply;
use super::ids::{DeviceId, MsgId};

/// The replies by (device, id), and the ids in the order they came, to
/// forget the oldest first. Each id is in both once.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Seen {
    replies: HashMap<(DeviceId, MsgId), Reply>,
    order: VecDeque<(DateTime<Utc>, DeviceId, MsgId)>,
}

impl Seen {
    /// The reply `id` of `device` was given, if it is remembered.
    pub fn get(&self, device: &DeviceId, id: &MsgId) -> Option<&Reply> {
        self.replies.get(&(device.clone(), id.clone()))
    }

    /// Remembers the reply to a new id, given at `at`.
    pub fn remember(&mut self, at: DateTime<Utc>, device: DeviceId, id: MsgId, reply: Reply) {
        self.replies.insert((device.clone(), id.clone()), reply);
        self.order.push_back((at, device, id));
    }

    /// Forgets the ids given before `cutoff`.
    pub fn forget_before(&mut self, cutoff: DateTime<Utc>) {
        while let Some((at, _, _)) = self.order.front() {
            if *at > cutoff {
                break;
            }
            if let Some((_, device, id)) = self.order.pop_front() {
                self.replies.remove(&(device, id));
            }
        }
    }
}

/// In a checkpoint: one (nanoseconds since the epoch, device, id, reply)
/// per id, oldest first. The ids are written once, not in both halves.
impl Serialize for Seen {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.order.len()))?;
        for (at, device, id) in &self.order {
            let nanos = at
                .timestamp_nanos_opt()
                .ok_or_else(|| serde::ser::Error::custom("a message time out of range"))?;
            let reply = self.replies.get(&(device.clone(), id.clone()));
            seq.serialize_element(&(nanos, device, id, reply))?;
        }
        seq.end()
    }
}

impl<'de> Deserialize<'de> for Seen {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Entries;
        impl<'de> Visitor<'de> for Entries {
            type Value = Seen;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("the message ids of the last 24 h, oldest first")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Seen, A::Error> {
                let n = seq.size_hint().unwrap_or(0).min(1 << 16);
                let mut seen = Seen {
                    replies: HashMap::with_capacity(n),
                    order: VecDeque::with_capacity(n),
                };
                while let Some((nanos, device, id, reply)) =
                    seq.next_element::<(i64, DeviceId, MsgId, Option<Reply>)>()?
                {
                    let at = DateTime::from_timestamp_nanos(nanos);
                    let reply =
                        reply.ok_or_else(|| A::Error::custom("a message id without its reply"))?;
                    seen.replies.insert((device.clone(), id.clone()), reply);
                    seen.order.push_back((at, device, id));
                }
                Ok(seen)
            }
        }
        d.deserialize_seq(Entries)
    }
}
