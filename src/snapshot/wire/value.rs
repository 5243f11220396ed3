//! Variation values (`serde_json::Value`) in a small tagged binary encoding.
//!
//! Not JSON text: without serde_json's `float_roundtrip` feature, parsing the
//! text serde_json writes for an `f64` can land one ULP off (for example
//! `1.0715660391465826e-75`), so a value would not survive a write/read
//! round trip bit for bit. Here numbers are stored as their `u64`/`i64`/`f64`
//! bits, so every value comes back exactly and the encoding is canonical.

use serde_json::{Map, Number, Value};

use super::Reader;
use crate::snapshot::SnapshotError;

const NULL: u8 = 0;
const FALSE: u8 = 1;
const TRUE: u8 = 2;
const UINT: u8 = 3;
const INT: u8 = 4;
const FLOAT: u8 = 5;
const STRING: u8 = 6;
const ARRAY: u8 = 7;
const OBJECT: u8 = 8;

/// Deepest nesting accepted when reading: the one value-nesting limit of
/// [`crate::limits`], which the checker enforces on variation values too.
pub(crate) const MAX_DEPTH: usize = crate::limits::MAX_VALUE_NESTING;

/// Appends the encoding of `v` to `out`.
pub(crate) fn write(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Null => out.push(NULL),
        Value::Bool(false) => out.push(FALSE),
        Value::Bool(true) => out.push(TRUE),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                out.push(UINT);
                out.extend_from_slice(&u.to_le_bytes());
            } else if let Some(i) = n.as_i64() {
                out.push(INT);
                out.extend_from_slice(&i.to_le_bytes());
            } else {
                out.push(FLOAT);
                let f = n.as_f64().unwrap_or(0.0);
                out.extend_from_slice(&f.to_bits().to_le_bytes());
            }
        }
        Value::String(s) => {
            out.push(STRING);
            write_str(out, s);
        }
        Value::Array(items) => {
            out.push(ARRAY);
            out.extend_from_slice(&(items.len() as u64).to_le_bytes());
            for item in items {
                write(out, item);
            }
        }
        Value::Object(map) => {
            out.push(OBJECT);
            out.extend_from_slice(&(map.len() as u64).to_le_bytes());
            for (k, item) in map {
                write_str(out, k);
                write(out, item);
            }
        }
    }
}

fn write_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// Reads one value; `what` names it in errors. Recursive, but nesting is
/// capped at [`MAX_DEPTH`], so hostile input cannot exhaust the stack.
pub(crate) fn read(r: &mut Reader<'_>, what: &str) -> Result<Value, SnapshotError> {
    read_at(r, what, 0)
}

fn read_at(r: &mut Reader<'_>, what: &str, depth: usize) -> Result<Value, SnapshotError> {
    let bad = |r: &Reader<'_>, detail: String| {
        SnapshotError::corrupt(r.section(), format!("{what}: {detail}"))
    };
    // `depth` counts the arrays and objects around this value; opening one
    // more must not pass the limit (a scalar inside 128 arrays is fine).
    let open = |r: &Reader<'_>| {
        if depth >= MAX_DEPTH {
            Err(bad(r, format!("nested deeper than {MAX_DEPTH}")))
        } else {
            Ok(())
        }
    };
    Ok(match r.u8()? {
        NULL => Value::Null,
        FALSE => Value::Bool(false),
        TRUE => Value::Bool(true),
        UINT => Value::Number(Number::from(r.u64()?)),
        INT => {
            let i = i64::from_le_bytes(r.u64()?.to_le_bytes());
            if i >= 0 {
                return Err(bad(r, format!("non-negative {i} stored as signed")));
            }
            Value::Number(Number::from(i))
        }
        FLOAT => {
            let f = f64::from_bits(r.u64()?);
            match Number::from_f64(f) {
                Some(n) => Value::Number(n),
                None => return Err(bad(r, format!("float {f} is not a finite JSON number"))),
            }
        }
        STRING => Value::String(read_str(r, what)?),
        ARRAY => {
            open(r)?;
            // Every item takes at least one byte.
            let n = r.count(1)?;
            let mut items = Vec::with_capacity(n);
            for _ in 0..n {
                items.push(read_at(r, what, depth + 1)?);
            }
            Value::Array(items)
        }
        OBJECT => {
            open(r)?;
            // Every entry takes at least a key length and a tag.
            let n = r.count(9)?;
            let mut map = Map::new();
            for _ in 0..n {
                let key = read_str(r, what)?;
                let item = read_at(r, what, depth + 1)?;
                if map.contains_key(&key) {
                    return Err(bad(r, format!("duplicate object key {key:?}")));
                }
                map.insert(key, item);
            }
            Value::Object(map)
        }
        t => return Err(bad(r, format!("unknown value tag {t}"))),
    })
}

fn read_str(r: &mut Reader<'_>, what: &str) -> Result<String, SnapshotError> {
    let b = r.bytes()?;
    std::str::from_utf8(b)
        .map(str::to_string)
        .map_err(|e| SnapshotError::corrupt(r.section(), format!("{what}: text is not UTF-8: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn round_trip(v: &Value) -> Result<Value, SnapshotError> {
        let mut out = Vec::new();
        write(&mut out, v);
        read(&mut Reader::new(&out, "variations"), "v")
    }

    #[test]
    fn values_come_back_exactly() {
        for v in [
            json!(null),
            json!(true),
            json!(u64::MAX),
            json!(i64::MIN),
            json!(-0.0),
            json!(1.0715660391465826e-75),
            json!(3.0),
            json!({"b": [1, "ü", {"a": null}], "a": false}),
        ] {
            let back = round_trip(&v).unwrap();
            assert_eq!(back, v);
            // Canonical: the same bytes again (key order kept).
            let (mut a, mut b) = (Vec::new(), Vec::new());
            write(&mut a, &v);
            write(&mut b, &back);
            assert_eq!(a, b);
        }
    }

    #[test]
    fn hostile_values_are_refused() {
        let read_bytes = |b: &[u8]| read(&mut Reader::new(b, "variations"), "v");
        // Nesting: exactly the limit loads, one more does not.
        let nested = |n: usize| {
            let mut deep = Vec::new();
            for _ in 0..n {
                deep.push(ARRAY);
                deep.extend_from_slice(&1u64.to_le_bytes());
            }
            deep.push(NULL);
            deep
        };
        assert!(read_bytes(&nested(MAX_DEPTH)).is_ok());
        assert!(read_bytes(&nested(MAX_DEPTH + 1)).is_err());
        // NaN, a huge count, an unknown tag, a duplicate key, a positive INT.
        let mut nan = vec![FLOAT];
        nan.extend_from_slice(&f64::NAN.to_bits().to_le_bytes());
        assert!(read_bytes(&nan).is_err());
        let mut huge = vec![ARRAY];
        huge.extend_from_slice(&u64::MAX.to_le_bytes());
        assert!(matches!(
            read_bytes(&huge),
            Err(SnapshotError::Truncated { .. })
        ));
        assert!(read_bytes(&[42]).is_err());
        let mut dup = vec![OBJECT];
        dup.extend_from_slice(&2u64.to_le_bytes());
        for _ in 0..2 {
            dup.extend_from_slice(&1u64.to_le_bytes());
            dup.push(b'k');
            dup.push(NULL);
        }
        assert!(read_bytes(&dup).is_err());
        let mut pos = vec![INT];
        pos.extend_from_slice(&5i64.to_le_bytes());
        assert!(read_bytes(&pos).is_err());
    }
}
