//! The values a serde enum takes, as serde's derive names them (after `rename` and
//! `rename_all`): what the sample config lists under "Possible values" for an
//! `#[opt(serde)]` option of such a type. Found by asking the type to deserialize
//! itself from a deserializer that gives nothing but notes the variants it is asked
//! for, so no declaration has to repeat them.

use std::cell::Cell;
use std::fmt;

use serde::de::{self, Deserializer, Visitor};

/// The variant names of `T` when it is an enum that serde reads by name (through
/// `Option` or a newtype too); empty for any other type.
pub fn serde_variants<T: serde::de::DeserializeOwned>() -> &'static [&'static str] {
    let found = Cell::new(None);
    let _ = T::deserialize(Probe { found: &found });
    found.get().unwrap_or_default()
}

/// Gives nothing; notes the variants an enum asks for.
struct Probe<'a> {
    found: &'a Cell<Option<&'static [&'static str]>>,
}

/// Why the probe gave nothing: never shown.
#[derive(Debug)]
struct Nothing;

impl fmt::Display for Nothing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("nothing to deserialize")
    }
}

impl std::error::Error for Nothing {}

impl de::Error for Nothing {
    fn custom<T: fmt::Display>(_msg: T) -> Self {
        Nothing
    }
}

impl<'de> Deserializer<'de> for Probe<'_> {
    type Error = Nothing;

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Nothing> {
        Err(Nothing)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Nothing> {
        self.found.set(Some(variants));
        Err(Nothing)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Nothing> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Nothing> {
        visitor.visit_newtype_struct(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
        byte_buf unit unit_struct seq tuple tuple_struct map struct identifier
        ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    #[serde(rename_all = "lowercase")]
    #[allow(dead_code)]
    enum Backend {
        Memory,
        Disk,
        #[serde(rename = "s3")]
        Object,
    }

    #[derive(serde::Deserialize)]
    #[allow(dead_code)]
    struct Limits {
        cpu: u32,
    }

    #[derive(serde::Deserialize)]
    #[allow(dead_code)]
    struct Wrapped(Backend);

    #[test]
    fn an_enums_names_are_found_through_option_and_newtypes() {
        assert_eq!(serde_variants::<Backend>(), ["memory", "disk", "s3"]);
        assert_eq!(
            serde_variants::<Option<Backend>>(),
            ["memory", "disk", "s3"]
        );
        assert_eq!(serde_variants::<Wrapped>(), ["memory", "disk", "s3"]);
        assert!(serde_variants::<Limits>().is_empty());
        assert!(serde_variants::<u32>().is_empty());
        assert!(serde_variants::<Vec<Backend>>().is_empty());
    }
}
