//! The safetensors header: a length-prefixed JSON object naming each tensor's dtype, shape
//! and byte range. Read with every range checked against the data that follows, written
//! with keys sorted and the JSON padded to 8 bytes (as the reference `safetensors` writes it).

use std::collections::BTreeMap;
use std::path::Path;

use burn::tensor::DType;

use crate::error::{IoError, Result};

/// One tensor's entry in a safetensors header.
#[derive(Debug, Clone)]
pub(super) struct Entry {
    pub(super) dtype: DType,
    pub(super) dtype_name: String,
    pub(super) shape: Vec<usize>,
    pub(super) start: usize,
    pub(super) end: usize,
}

impl Entry {
    /// The entry's length in bytes.
    pub(super) fn len(&self) -> usize {
        self.end - self.start
    }
}

/// Headers larger than this are refused before they are read (the reference `safetensors`
/// crate's limit): a corrupt length must not ask for gigabytes.
pub(super) const MAX_HEADER_BYTES: u64 = 100_000_000;

pub(super) fn dtype_from_name(name: &str) -> Option<(DType, usize)> {
    Some(match name {
        "F64" => (DType::F64, 8),
        "F32" => (DType::F32, 4),
        "F16" => (DType::F16, 2),
        "BF16" => (DType::BF16, 2),
        "I64" => (DType::I64, 8),
        "I32" => (DType::I32, 4),
        "I16" => (DType::I16, 2),
        "I8" => (DType::I8, 1),
        "U8" => (DType::U8, 1),
        "BOOL" => (DType::U8, 1),
        _ => return None,
    })
}

pub(super) fn dtype_name(dtype: DType) -> Option<&'static str> {
    Some(match dtype {
        DType::F64 => "F64",
        DType::F32 | DType::Flex32 => "F32",
        DType::F16 => "F16",
        DType::BF16 => "BF16",
        DType::I64 => "I64",
        DType::I32 => "I32",
        DType::I16 => "I16",
        DType::I8 => "I8",
        DType::U8 => "U8",
        _ => return None,
    })
}

/// The entries and metadata of a safetensors header, each entry checked against the `data_len`
/// bytes that follow the header.
#[allow(clippy::type_complexity)]
pub(super) fn parse_header(
    path: &Path,
    header: &[u8],
    data_len: usize,
) -> Result<(BTreeMap<String, Entry>, BTreeMap<String, String>)> {
    let bad = |message: String| IoError::Safetensors {
        path: path.to_path_buf(),
        message,
    };
    let header: serde_json::Value = serde_json::from_slice(header)
        .map_err(|e| bad(format!("header is not valid JSON: {e}")))?;
    let obj = header
        .as_object()
        .ok_or_else(|| bad("header is not a JSON object".into()))?;
    let mut entries = BTreeMap::new();
    let mut metadata = BTreeMap::new();
    for (key, value) in obj {
        if key == "__metadata__" {
            let map = value
                .as_object()
                .ok_or_else(|| bad("`__metadata__` is not a JSON object".into()))?;
            for (k, v) in map {
                let v = v
                    .as_str()
                    .ok_or_else(|| bad(format!("metadata `{k}` is not a string")))?;
                metadata.insert(k.clone(), v.to_owned());
            }
            continue;
        }
        let parse = || -> Option<(String, Vec<usize>, usize, usize)> {
            let dtype = value.get("dtype")?.as_str()?.to_string();
            let shape = value
                .get("shape")?
                .as_array()?
                .iter()
                .map(|d| d.as_u64().map(|d| d as usize))
                .collect::<Option<Vec<_>>>()?;
            let offsets = value.get("data_offsets")?.as_array()?;
            let start = offsets.first()?.as_u64()? as usize;
            let end = offsets.get(1)?.as_u64()? as usize;
            Some((dtype, shape, start, end))
        };
        let (dtype_name, shape, start, end) =
            parse().ok_or_else(|| bad(format!("malformed header entry for `{key}`")))?;
        let (dtype, size) =
            dtype_from_name(&dtype_name).ok_or_else(|| IoError::UnsupportedDtype {
                path: path.to_path_buf(),
                key: key.clone(),
                dtype: dtype_name.clone(),
            })?;
        // Checked: a corrupt header must give an error, not an overflow.
        let bytes = shape
            .iter()
            .try_fold(size, |acc, &d| acc.checked_mul(d))
            .ok_or_else(|| bad(format!("tensor `{key}`: shape {shape:?} is too large")))?;
        let numel = bytes / size;
        if end < start || end - start != bytes {
            return Err(bad(format!(
                "tensor `{key}`: offsets {start}..{end} do not hold {numel} {dtype_name} values"
            )));
        }
        if end > data_len {
            return Err(bad(format!(
                "tensor `{key}` ends at data byte {end} but the file holds only {data_len} \
                 data bytes (truncated?)"
            )));
        }
        entries.insert(
            key.clone(),
            Entry {
                dtype,
                dtype_name,
                shape,
                start,
                end,
            },
        );
    }
    Ok((entries, metadata))
}

/// The header of a file holding `tensors` (key, dtype name, shape and byte length, in key
/// order) back to back, with an optional `__metadata__` map: the length prefix, then the JSON
/// padded with spaces to a multiple of 8 bytes.
pub(super) fn header_bytes<'a>(
    tensors: impl IntoIterator<Item = (&'a str, &'a str, &'a [usize], usize)>,
    metadata: &BTreeMap<String, String>,
) -> Vec<u8> {
    let mut header = serde_json::Map::new();
    if !metadata.is_empty() {
        header.insert("__metadata__".into(), serde_json::json!(metadata));
    }
    let mut offset = 0usize;
    for (key, dtype, shape, len) in tensors {
        header.insert(
            key.to_string(),
            serde_json::json!({
                "dtype": dtype,
                "shape": shape,
                "data_offsets": [offset, offset + len],
            }),
        );
        offset += len;
    }
    let mut json =
        serde_json::to_vec(&serde_json::Value::Object(header)).expect("JSON of plain values");
    while !json.len().is_multiple_of(8) {
        json.push(b' ');
    }
    let mut bytes = Vec::with_capacity(8 + json.len());
    bytes.extend_from_slice(&(json.len() as u64).to_le_bytes());
    bytes.extend_from_slice(&json);
    bytes
}
