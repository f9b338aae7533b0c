//! Parsed identifiers. Every id that crosses the edge is checked here once, so
//! the rest of the core can trust it.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// Why a string is not a valid identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("is empty")]
    Empty,
    #[error("is longer than {max} characters")]
    TooLong { max: usize },
    #[error("may only contain letters, digits, '_' and '-'")]
    BadChar,
}

/// The contract's id syntax: `[A-Za-z0-9_-]{1,32}`.
fn check_id(s: &str, max: usize) -> Result<(), IdError> {
    if s.is_empty() {
        return Err(IdError::Empty);
    }
    if s.len() > max {
        return Err(IdError::TooLong { max });
    }
    if !s
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(IdError::BadChar);
    }
    Ok(())
}

/// A string newtype whose every value went through `Self::parse`: the type
/// gets `as_str`, `Display`, `Serialize` and a `Deserialize` that parses.
/// The text is shared, not copied, when an id is cloned: ids name the
/// subjects of findings and the keys of the hall's maps, and are cloned on
/// every check.
/// Reads an id from the text the input holds, without a copy of its own
/// first when the input lends it (a log's JSON, a checkpoint).
struct IdVisitor<T>(fn(&str) -> Result<T, IdError>);

impl<T> serde::de::Visitor<'_> for IdVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an id")
    }

    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<T, E> {
        (self.0)(s).map_err(|e| E::custom(format!("{s:?} {e}")))
    }
}

macro_rules! parsed_string {
    ($(#[doc = $doc:literal])* $name:ident) => {
        $(#[doc = $doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Arc<str>);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// Its text, shared rather than copied.
            pub fn shared(&self) -> Arc<str> {
                self.0.clone()
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_str(IdVisitor(Self::parse))
            }
        }
    };
}

/// The schemas of a string newtype: a string that matches `$pattern`. For
/// the MQTT payloads an inline JSON Schema; for the HTTP API a named OpenAPI
/// component, described by the type's documentation, with an example.
macro_rules! string_schema {
    ($(#[doc = $doc:literal])* $name:ident, $pattern:expr, $example:literal) => {
        impl schemars::JsonSchema for $name {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }

            fn inline_schema() -> bool {
                true
            }

            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!({"type": "string", "pattern": $pattern})
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .pattern(Some($pattern))
                    .description(Some(description(&[$($doc),*])))
                    .examples([$example])
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {
            fn name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }
        }
    };
}

/// A type's documentation as a schema description: the lines of its doc
/// comment without the space after `///`.
fn description(lines: &[&str]) -> String {
    lines
        .iter()
        .map(|l| l.strip_prefix(' ').unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n")
}

/// An id with the contract's syntax, `[A-Za-z0-9_-]{1,max}`.
macro_rules! id_type {
    ($(#[doc = $doc:literal])* $name:ident, $max:expr, $example:literal) => {
        parsed_string!($(#[doc = $doc])* $name);
        string_schema!(
            $(#[doc = $doc])*
            $name,
            concat!("^[A-Za-z0-9_-]{1,", stringify!($max), "}$"),
            $example
        );

        impl $name {
            /// Parses and checks an id.
            pub fn parse(s: &str) -> Result<Self, IdError> {
                check_id(s, $max)?;
                Ok(Self(s.into()))
            }
        }
    };
}

id_type!(
    /// A hall (政务服务中心 / 便民服务中心), as the configuration names it.
    HallId, 32, "jl-center");
id_type!(
    /// A window (窗口) of a hall.
    WindowId, 32, "05");
id_type!(
    /// A device of a hall: a kiosk, a window terminal or a rating pad (`k1`, `w05`, `r05`).
    DeviceId, 32, "w05");
id_type!(
    /// A staff member's number (工号), as the window terminal sent it at login.
    StaffId, 32, "S001");
id_type!(
    /// A service (business category, 业务类别) code of a hall.
    ServiceCode, 16, "SB");

parsed_string!(
    /// A message id from a device, unique for that device for at least 24
    /// hours. Looser than the other ids: any text without control characters,
    /// up to 64 characters.
    MsgId);

impl MsgId {
    pub const MAX_LEN: usize = 64;

    pub fn parse(s: &str) -> Result<Self, IdError> {
        if s.is_empty() {
            return Err(IdError::Empty);
        }
        if s.chars().count() > Self::MAX_LEN {
            return Err(IdError::TooLong { max: Self::MAX_LEN });
        }
        if s.chars().any(char::is_control) {
            return Err(IdError::BadChar);
        }
        Ok(Self(s.into()))
    }
}

parsed_string!(
    /// A ticket number: the service's prefix letters and a daily sequence of
    /// at least three digits (`B023`, `B999`, `B1000`).
    TicketNo);

string_schema!(
    /// A ticket number: the service's prefix (one to three capital letters)
    /// and the day's sequence of three to seven digits (`B023`, `B1000`).
    TicketNo,
    "^[A-Z]{1,3}[0-9]{3,7}$",
    "B023"
);

impl TicketNo {
    /// The number for the `seq`-th ticket of the day of a service with `prefix`.
    pub fn new(prefix: &str, seq: u32) -> Self {
        Self(format!("{prefix}{seq:03}").into())
    }

    /// Parses `B023`: one to three upper-case letters, then three to seven digits.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let letters = s.bytes().take_while(u8::is_ascii_uppercase).count();
        let digits = &s[letters..];
        if letters == 0 || letters > 3 || digits.len() < 3 || digits.len() > 7 {
            return Err(IdError::BadChar);
        }
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(IdError::BadChar);
        }
        Ok(Self(s.into()))
    }
}

parsed_string!(
    /// A ticket's phone-page token: 18 characters of lower-case Crockford
    /// base32 (90 random bits), unguessable and good for the ticket's day.
    TicketToken);

string_schema!(
    /// A ticket's phone-page token: 18 characters of lower-case Crockford
    /// base32 (90 random bits).
    TicketToken,
    "^[0-9a-hjkmnp-tv-z]{18}$",
    "7k2m9q4x8v1c3n5p6r"
);

impl TicketToken {
    /// Its length in characters.
    pub const LEN: usize = 18;
    /// Crockford's base32 digits in lower case: no i, l, o or u to misread.
    const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

    /// The token of 90 random bits: the first 90 of `bytes`, which the
    /// caller draws from a secure generator (the core draws nothing).
    pub fn from_random(bytes: [u8; 12]) -> Self {
        let bits = u128::from_be_bytes({
            let mut b = [0u8; 16];
            b[..12].copy_from_slice(&bytes);
            b
        });
        let text: String = (0..Self::LEN)
            .map(|i| char::from(Self::ALPHABET[((bits >> (123 - 5 * i)) & 31) as usize]))
            .collect();
        Self(text.into())
    }

    pub fn parse(s: &str) -> Result<Self, IdError> {
        if s.len() != Self::LEN {
            return Err(if s.is_empty() {
                IdError::Empty
            } else {
                IdError::BadChar
            });
        }
        if !s.bytes().all(|b| Self::ALPHABET.contains(&b)) {
            return Err(IdError::BadChar);
        }
        Ok(Self(s.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticket_tokens_carry_ninety_bits_in_crockford_base32() {
        let zero = TicketToken::from_random([0; 12]);
        assert_eq!(zero.as_str(), "000000000000000000");
        let ones = TicketToken::from_random([0xff; 12]);
        assert_eq!(ones.as_str(), "zzzzzzzzzzzzzzzzzz");
        // The first byte's top five bits are the first digit.
        let first = TicketToken::from_random([0b1000_0000, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(first.as_str(), "g00000000000000000");
        assert!(TicketToken::parse(first.as_str()).is_ok());
        assert!(TicketToken::parse("G00000000000000000").is_err());
        assert!(TicketToken::parse("i00000000000000000").is_err());
        assert!(TicketToken::parse("g0000000000000000").is_err());
        assert!(TicketToken::parse("").is_err());
    }

    #[test]
    fn ids_follow_the_contract_syntax() {
        assert!(HallId::parse("jl-center").is_ok());
        assert!(HallId::parse("a_B-9").is_ok());
        assert_eq!(HallId::parse(""), Err(IdError::Empty));
        assert_eq!(HallId::parse("a/b"), Err(IdError::BadChar));
        assert_eq!(HallId::parse("+"), Err(IdError::BadChar));
        assert_eq!(
            HallId::parse(&"x".repeat(33)),
            Err(IdError::TooLong { max: 32 })
        );
        assert!(HallId::parse(&"x".repeat(32)).is_ok());
    }

    #[test]
    fn ticket_numbers_have_three_digits_at_least() {
        assert_eq!(TicketNo::new("B", 23).as_str(), "B023");
        assert_eq!(TicketNo::new("B", 1000).as_str(), "B1000");
        assert!(TicketNo::parse("B023").is_ok());
        assert!(TicketNo::parse("GA1000").is_ok());
        assert!(TicketNo::parse("B23").is_err());
        assert!(TicketNo::parse("023").is_err());
        assert!(TicketNo::parse("b023").is_err());
        assert!(TicketNo::parse("B02x").is_err());
    }

    #[test]
    fn message_ids_refuse_control_characters() {
        assert!(MsgId::parse("k1-000123").is_ok());
        assert!(MsgId::parse("a\nb").is_err());
        assert!(MsgId::parse(&"x".repeat(65)).is_err());
    }
}
