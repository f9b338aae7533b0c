//! A hall's state as bytes, and back: what the store keeps so that a start
//! folds only the log's tail after it.
//!
//! The bytes are MessagePack with field names, compressed with LZ4 (its
//! length first, as four bytes little-endian). They hold everything of the
//! hall but its spec, which comes from the configuration on restore; a
//! checkpoint is used only with the spec it was taken under (the store keys
//! it by `checkpoint_key`).

use std::cell::RefCell;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::hall::Hall;
use super::spec::HallSpec;

/// Bumped whenever the hall's state changes shape or meaning, so that a
/// checkpoint of an older build is never read as this one's.
const FORMAT: u32 = 3;

/// A checkpoint says how long it is unpacked; one longer than this is not
/// believed (a day of a busy hall is a few megabytes).
const MAX_SIZE: usize = 1 << 30;

/// What a checkpoint is valid for: this build's state format and one hall's
/// spec. A checkpoint with another key is not used; the hall is folded from
/// the log instead.
pub fn checkpoint_key(spec: &HallSpec) -> String {
    let mut digest = Sha256::new();
    // The spec's debug form names every field and value, so any change of
    // the configuration changes the key.
    digest.update(format!("{spec:?}").as_bytes());
    let hash = digest.finalize();
    let hex: String = hash[..12].iter().map(|b| format!("{b:02x}")).collect();
    format!("{}/{FORMAT}/{hex}", env!("CARGO_PKG_VERSION"))
}

thread_local! {
    /// The spec the hall being restored on this thread is given.
    static RESTORING: RefCell<Option<Arc<HallSpec>>> = const { RefCell::new(None) };
}

/// The spec of the hall being restored (serde's default for the field the
/// bytes do not hold).
pub(super) fn restoring_spec() -> Arc<HallSpec> {
    RESTORING.with(|r| r.borrow().clone()).unwrap_or_else(|| {
        // Only `Hall::restore` deserializes a hall, and it sets the spec
        // first; a hall restored without it has no spec to run on.
        unreachable!("a hall is restored only through Hall::restore")
    })
}

/// Why a checkpoint could not be taken or read.
#[derive(Debug, thiserror::Error)]
#[error("hall checkpoint: {0}")]
pub struct CheckpointError(String);

impl Hall {
    /// The hall's state as bytes, for `Hall::restore`.
    pub fn checkpoint(&self) -> Result<Vec<u8>, CheckpointError> {
        rmp_serde::to_vec_named(self)
            .map(|bytes| lz4_flex::compress_prepend_size(&bytes))
            .map_err(|e| CheckpointError(e.to_string()))
    }

    /// The hall `checkpoint` took, run on `spec`.
    pub fn restore(spec: Arc<HallSpec>, bytes: &[u8]) -> Result<Hall, CheckpointError> {
        let (size, packed) = bytes
            .split_first_chunk::<4>()
            .map(|(size, packed)| (u32::from_le_bytes(*size) as usize, packed))
            .ok_or_else(|| CheckpointError("shorter than its length".into()))?;
        if size > MAX_SIZE {
            return Err(CheckpointError(format!(
                "{size} bytes, more than a hall holds"
            )));
        }
        let bytes =
            lz4_flex::decompress(packed, size).map_err(|e| CheckpointError(e.to_string()))?;
        RESTORING.with(|r| *r.borrow_mut() = Some(spec));
        let hall =
            rmp_serde::from_slice::<Hall>(&bytes).map_err(|e| CheckpointError(e.to_string()));
        RESTORING.with(|r| *r.borrow_mut() = None);
        hall
    }
}

/// An instant in a checkpoint: nanoseconds since the epoch, not RFC 3339
/// text, for the hall's many times (`#[serde(with = ...)]`).
pub(super) mod instant {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer, ser::Error};

    pub fn serialize<S: Serializer>(at: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(
            at.timestamp_nanos_opt()
                .ok_or_else(|| S::Error::custom("an instant out of range"))?,
        )
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        i64::deserialize(d).map(DateTime::from_timestamp_nanos)
    }
}

/// `instant`, when there may be none.
pub(super) mod instant_opt {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer, ser::Error};

    pub fn serialize<S: Serializer>(at: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match at {
            Some(at) => s.serialize_some(
                &at.timestamp_nanos_opt()
                    .ok_or_else(|| S::Error::custom("an instant out of range"))?,
            ),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        Option::<i64>::deserialize(d).map(|n| n.map(DateTime::from_timestamp_nanos))
    }
}
