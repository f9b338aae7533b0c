//! The tamper-evident record of supervision: every alert transition, card
//! transition, case event and supervisor action of a hall, chained. Each
//! record carries the hash of the record before it and its own,
//! SHA-256 over that previous hash, its number, its kind and its content,
//! so altering, removing or inserting a record breaks the chain at that
//! record, and [`verify`] names it. The head of the chain (the last number
//! and hash) is published, so an outside party can keep it and notice a
//! chain cut short or rewritten from the start.
//!
//! Pure: the store keeps the records, this computes and checks them.

use sha2::{Digest, Sha256};

/// The previous hash of a hall's first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One record as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// 1, 2, 3… per hall.
    pub seq: i64,
    /// What it records: `alert`, `card`, `case`, `follow_up`, `action`.
    pub kind: String,
    /// The record itself, JSON text, hashed exactly as stored.
    pub content: String,
    /// The hash of the record before (hex), [`GENESIS`] for the first.
    pub prev: String,
    /// Its own hash (hex).
    pub hash: String,
}

/// The hash of a record with this previous hash, number, kind and content.
pub fn hash(prev: &str, seq: i64, kind: &str, content: &str) -> String {
    let mut h = Sha256::new();
    h.update(prev.as_bytes());
    h.update(b"\n");
    h.update(seq.to_string().as_bytes());
    h.update(b"\n");
    h.update(kind.as_bytes());
    h.update(b"\n");
    h.update(content.as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The next record after `head` (None: the hall's first).
pub fn next(head: Option<&Record>, kind: &str, content: String) -> Record {
    let (seq, prev) = match head {
        Some(h) => (h.seq + 1, h.hash.clone()),
        None => (1, GENESIS.to_owned()),
    };
    Record {
        seq,
        kind: kind.to_owned(),
        hash: hash(&prev, seq, kind, &content),
        content,
        prev,
    }
}

/// A hall's chain as its task extends it: the head, and what was last
/// recorded of each subject (an alert, card, case or follow-up), so that
/// a state recorded already (a restart applying the same change again) is
/// not recorded twice.
#[derive(Debug, Default, Clone)]
pub struct Chain {
    head: Option<Record>,
    last: std::collections::HashMap<String, u64>,
}

fn fingerprint(content: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    content.hash(&mut h);
    h.finish()
}

impl Chain {
    /// The chain as the store holds it.
    pub fn resume(records: Vec<Record>) -> Self {
        let mut chain = Chain::default();
        for r in records {
            if let Some(subject) = subject_of(&r.kind, &r.content) {
                chain.last.insert(subject, fingerprint(&r.content));
            }
            chain.head = Some(r);
        }
        chain
    }

    /// The last record.
    pub fn head(&self) -> Option<&Record> {
        self.head.as_ref()
    }

    /// Appends a record of `subject` (None: an action, always recorded),
    /// unless its content is what was last recorded of it.
    pub fn append(&mut self, kind: &str, subject: Option<&str>, content: String) -> Option<Record> {
        if let Some(subject) = subject {
            let key = format!("{kind}:{subject}");
            let f = fingerprint(&content);
            if self.last.get(&key) == Some(&f) {
                return None;
            }
            self.last.insert(key, f);
        }
        let record = next(self.head.as_ref(), kind, content);
        self.head = Some(record.clone());
        Some(record)
    }
}

/// The subject key of a stored record: its kind with the id its content
/// names (`id` of an alert or card, `reference` of a case, `id` of a
/// follow-up); None for an action.
fn subject_of(kind: &str, content: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(content).ok()?;
    let id = match kind {
        "case" => v.get("reference")?,
        "alert" | "card" | "follow_up" => v.get("id")?,
        _ => return None,
    };
    Some(format!("{kind}:{}", id.as_str()?))
}

/// Where a chain breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Break {
    /// The record's content (or number or kind) was changed: its hash no
    /// longer matches it.
    Altered(i64),
    /// The record was changed and its hash recomputed: the record after it
    /// still names the old hash.
    Rewritten(i64),
    /// The record with this number is missing.
    Removed(i64),
    /// A record that was never written stands at this number.
    Inserted(i64),
    /// The chain ends before the published head: records from this number
    /// on are missing.
    CutShort(i64),
    /// The chain's last record is not the published head.
    HeadMismatch(i64),
}

impl std::fmt::Display for Break {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Break::Altered(n) => write!(f, "record {n} was altered: its hash does not match it"),
            Break::Rewritten(n) => write!(
                f,
                "record {n} was altered and its hash recomputed: record {} names another",
                n + 1
            ),
            Break::Removed(n) => write!(f, "record {n} was removed"),
            Break::Inserted(n) => write!(f, "record {n} was inserted: it was never in the chain"),
            Break::CutShort(n) => write!(
                f,
                "the chain ends before the published head: records from {n} on are missing"
            ),
            Break::HeadMismatch(n) => {
                write!(f, "record {n}, the chain's last, is not the published head")
            }
        }
    }
}

/// Checks a hall's records, in the order of their numbers, against each
/// other and (when known) the published head `(seq, hash)`. Ok with the
/// number of records checked, or the first break.
pub fn verify(records: &[Record], head: Option<(i64, &str)>) -> Result<usize, Break> {
    let mut prev = GENESIS.to_owned();
    let mut expected = 1;
    for (i, r) in records.iter().enumerate() {
        if r.seq > expected {
            return Err(Break::Removed(expected));
        }
        if r.seq < expected {
            return Err(Break::Inserted(r.seq));
        }
        if r.hash != hash(&r.prev, r.seq, &r.kind, &r.content) {
            // Renumbered to make room for a record put in before it, or to
            // close the gap of one taken out.
            return Err(if r.hash == hash(&r.prev, r.seq - 1, &r.kind, &r.content) {
                Break::Inserted(r.seq - 1)
            } else if r.hash == hash(&r.prev, r.seq + 1, &r.kind, &r.content) {
                Break::Removed(r.seq)
            } else {
                Break::Altered(r.seq)
            });
        }
        if r.prev != prev {
            // Either this record was put in (the one after it links past
            // it), or the one before was rewritten with a new hash.
            let skipped = records.get(i + 1).is_some_and(|n| n.prev == prev);
            return Err(if skipped {
                Break::Inserted(r.seq)
            } else if i == 0 {
                Break::Altered(r.seq)
            } else {
                Break::Rewritten(r.seq - 1)
            });
        }
        prev.clone_from(&r.hash);
        expected += 1;
    }
    if let Some((seq, hash)) = head {
        let last = expected - 1;
        if last < seq {
            return Err(Break::CutShort(last + 1));
        }
        if last == seq && prev != hash {
            return Err(Break::HeadMismatch(last));
        }
        // Records after the head was last published are fine: the head
        // moves on.
        if last > seq
            && records
                .iter()
                .find(|r| r.seq == seq)
                .is_some_and(|r| r.hash != hash)
        {
            return Err(Break::HeadMismatch(seq));
        }
    }
    Ok(records.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: usize) -> Vec<Record> {
        let mut out: Vec<Record> = Vec::new();
        for i in 0..n {
            let r = next(
                out.last(),
                "alert",
                format!(r#"{{"alert":"a{i}","op":"open"}}"#),
            );
            out.push(r);
        }
        out
    }

    #[test]
    fn an_untouched_chain_verifies_to_its_head() {
        let c = chain(5);
        assert_eq!(c[0].prev, GENESIS);
        assert_eq!(c[1].prev, c[0].hash);
        assert_eq!(verify(&c, Some((5, &c[4].hash))), Ok(5));
        assert_eq!(
            verify(&c, Some((3, &c[2].hash))),
            Ok(5),
            "the head moved on"
        );
        assert_eq!(verify(&[], None), Ok(0));
    }

    #[test]
    fn every_kind_of_tampering_is_named_at_its_record() {
        let c = chain(6);
        let mut altered = c.clone();
        altered[2].content = altered[2].content.replace("open", "resolve");
        assert_eq!(verify(&altered, None), Err(Break::Altered(3)));

        let mut rewritten = c.clone();
        rewritten[2].content = rewritten[2].content.replace("open", "resolve");
        rewritten[2].hash = hash(&rewritten[2].prev, 3, "alert", &rewritten[2].content);
        assert_eq!(verify(&rewritten, None), Err(Break::Rewritten(3)));

        let mut removed = c.clone();
        removed.remove(3);
        assert_eq!(verify(&removed, None), Err(Break::Removed(4)));

        // A record slipped in and the rest renumbered, hashes recomputed
        // for it alone: the record after it still links past it.
        let mut inserted = c.clone();
        let fake = next(Some(&c[1]), "action", r#"{"op":"resolve"}"#.into());
        inserted.insert(2, fake);
        for r in &mut inserted[3..] {
            r.seq += 1;
        }
        assert_eq!(verify(&inserted, None), Err(Break::Inserted(3)));

        let mut closed_up = c.clone();
        closed_up.remove(3);
        for r in &mut closed_up[3..] {
            r.seq -= 1;
        }
        assert_eq!(verify(&closed_up, None), Err(Break::Removed(4)));

        let short = &c[..4];
        assert_eq!(
            verify(short, Some((6, &c[5].hash))),
            Err(Break::CutShort(5))
        );

        // Rewritten from the start, consistently: only the head tells.
        let mut forged: Vec<Record> = Vec::new();
        for r in &c {
            let content = r.content.replace("open", "ack");
            forged.push(next(forged.last(), &r.kind, content));
        }
        assert_eq!(verify(&forged, None), Ok(6));
        assert_eq!(
            verify(&forged, Some((6, &c[5].hash))),
            Err(Break::HeadMismatch(6))
        );
    }
}

#[cfg(test)]
mod chain_tests {
    use super::*;

    #[test]
    fn a_chain_records_each_state_once_across_a_restart() {
        let mut c = Chain::default();
        let card = r#"{"id":"X-yellow","state":"issued"}"#;
        assert!(c.append("card", Some("X-yellow"), card.into()).is_some());
        assert!(c.append("card", Some("X-yellow"), card.into()).is_none());
        assert!(c.append("action", None, "{}".into()).is_some());
        assert!(c.append("action", None, "{}".into()).is_some());
        let stored: Vec<Record> = {
            let mut out = Vec::new();
            let mut h: Option<Record> = None;
            for (k, body) in [("card", card), ("action", "{}"), ("action", "{}")] {
                let r = next(h.as_ref(), k, body.to_owned());
                h = Some(r.clone());
                out.push(r);
            }
            out
        };
        assert_eq!(stored.last().map(|r| &r.hash), c.head().map(|r| &r.hash));
        let mut again = Chain::resume(stored);
        assert!(
            again
                .append("card", Some("X-yellow"), card.into())
                .is_none()
        );
        let changed = r#"{"id":"X-yellow","state":"explained"}"#;
        let r = again
            .append("card", Some("X-yellow"), changed.into())
            .unwrap();
        assert_eq!(r.seq, 4);
        assert_eq!(r.prev, c.head().unwrap().hash);
    }
}
