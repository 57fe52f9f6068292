//! Response shaping: keep or drop fields by JSON pointer, cap array lengths and the serialized
//! size. Whatever is cut is recorded under [`TRUNCATION_KEY`] in the answer itself, so the model
//! knows the data it sees is incomplete.

use portcullis_config::ShapeSettings;

use crate::error::SettingsError;
use serde_json::{Map, Value, json};

/// The member added to a shaped answer that lost data.
pub const TRUNCATION_KEY: &str = "_portcullis_truncated";

/// Longest string kept when strings must be cut to meet `max_bytes`, in characters.
const CUT_STRING_CHARS: usize = 64;

/// One tool's shaping rules, with the pointers split into segments once.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Shaper {
    keep: Vec<Vec<String>>,
    drop: Vec<Vec<String>>,
    max_items: Option<usize>,
    max_bytes: Option<usize>,
}

/// What shaping cut.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Shaped {
    /// Arrays shortened: pointer, kept, total.
    pub arrays: Vec<(String, usize, usize)>,
    /// Strings cut to meet `max_bytes`.
    pub strings_cut: usize,
    /// The whole answer was replaced by a preview.
    pub previewed: bool,
}

impl Shaped {
    /// True when anything was cut.
    pub fn truncated(&self) -> bool {
        !self.arrays.is_empty() || self.strings_cut > 0 || self.previewed
    }
}

impl Shaper {
    /// Parses the pointers; a pointer that does not start with `/` is an error.
    pub fn new(settings: &ShapeSettings) -> Result<Self, SettingsError> {
        let split = |pointers: &[String]| -> Result<Vec<Vec<String>>, SettingsError> {
            pointers
                .iter()
                .map(|pointer| {
                    let Some(rest) = pointer.strip_prefix('/') else {
                        return Err(SettingsError::NotAPointer(pointer.clone()));
                    };
                    Ok(rest
                        .split('/')
                        .map(|s| s.replace("~1", "/").replace("~0", "~"))
                        .collect())
                })
                .collect()
        };
        Ok(Self {
            keep: split(&settings.keep)?,
            drop: split(&settings.drop)?,
            max_items: settings.max_items,
            max_bytes: settings.max_bytes,
        })
    }

    /// Applies the rules to `value` and marks any truncation in it.
    pub fn apply(&self, value: &mut Value) -> Shaped {
        let mut shaped = Shaped::default();
        if !self.keep.is_empty() {
            let patterns: Vec<&[String]> = self.keep.iter().map(Vec::as_slice).collect();
            *value = keep(value, &patterns);
        }
        for pattern in &self.drop {
            drop_path(value, pattern);
        }
        if let Some(max) = self.max_items {
            cap_items(value, max, &mut String::new(), &mut shaped);
        }
        if let Some(max) = self.max_bytes {
            cap_bytes(value, max, &mut shaped);
        }
        if shaped.truncated() {
            mark(value, &shaped, self.max_bytes);
        }
        shaped
    }
}

fn segment_matches(segment: &str, key: &str) -> bool {
    segment == "*" || segment == key
}

fn keep(value: &Value, patterns: &[&[String]]) -> Value {
    if patterns.iter().any(|p| p.is_empty()) {
        return value.clone();
    }
    match value {
        Value::Object(map) => {
            let mut out = Map::new();
            for (key, item) in map {
                let inner: Vec<&[String]> = patterns
                    .iter()
                    .filter_map(|p| p.split_first())
                    .filter(|(first, _)| segment_matches(first, key))
                    .map(|(_, rest)| rest)
                    .collect();
                if !inner.is_empty() {
                    out.insert(key.clone(), keep(item, &inner));
                }
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(
            items
                .iter()
                .enumerate()
                .filter_map(|(i, item)| {
                    let key = i.to_string();
                    let inner: Vec<&[String]> = patterns
                        .iter()
                        .filter_map(|p| p.split_first())
                        .filter(|(first, _)| segment_matches(first, &key))
                        .map(|(_, rest)| rest)
                        .collect();
                    (!inner.is_empty()).then(|| keep(item, &inner))
                })
                .collect(),
        ),
        _ => Value::Null,
    }
}

fn drop_path(value: &mut Value, pattern: &[String]) {
    let Some((first, rest)) = pattern.split_first() else {
        return;
    };
    match value {
        Value::Object(map) => {
            if rest.is_empty() {
                if first == "*" {
                    map.clear();
                } else {
                    map.shift_remove(first);
                }
                return;
            }
            for (key, item) in map.iter_mut() {
                if segment_matches(first, key) {
                    drop_path(item, rest);
                }
            }
        }
        Value::Array(items) => {
            if rest.is_empty() {
                if first == "*" {
                    items.clear();
                } else if let Ok(index) = first.parse::<usize>()
                    && index < items.len()
                {
                    items.remove(index);
                }
                return;
            }
            for (i, item) in items.iter_mut().enumerate() {
                if segment_matches(first, &i.to_string()) {
                    drop_path(item, rest);
                }
            }
        }
        _ => {}
    }
}

fn cap_items(value: &mut Value, max: usize, path: &mut String, shaped: &mut Shaped) {
    match value {
        Value::Array(items) => {
            if items.len() > max {
                shaped.arrays.push((path.clone(), max, items.len()));
                items.truncate(max);
            }
            let len = path.len();
            for (i, item) in items.iter_mut().enumerate() {
                path.push_str(&format!("/{i}"));
                cap_items(item, max, path, shaped);
                path.truncate(len);
            }
        }
        Value::Object(map) => {
            let len = path.len();
            for (key, item) in map.iter_mut() {
                path.push('/');
                path.push_str(&key.replace('~', "~0").replace('/', "~1"));
                cap_items(item, max, path, shaped);
                path.truncate(len);
            }
        }
        _ => {}
    }
}

/// The pointer and length of the longest array with more than one element.
fn longest_array(value: &Value, path: &mut String, best: &mut Option<(String, usize)>) {
    match value {
        Value::Array(items) => {
            if items.len() > 1 && best.as_ref().is_none_or(|(_, len)| items.len() > *len) {
                *best = Some((path.clone(), items.len()));
            }
            let len = path.len();
            for (i, item) in items.iter().enumerate() {
                path.push_str(&format!("/{i}"));
                longest_array(item, path, best);
                path.truncate(len);
            }
        }
        Value::Object(map) => {
            let len = path.len();
            for (key, item) in map {
                path.push('/');
                path.push_str(&key.replace('~', "~0").replace('/', "~1"));
                longest_array(item, path, best);
                path.truncate(len);
            }
        }
        _ => {}
    }
}

fn size(value: &Value) -> usize {
    serde_json::to_vec(value).map_or(usize::MAX, |bytes| bytes.len())
}

fn cap_bytes(value: &mut Value, max: usize, shaped: &mut Shaped) {
    // Room for the truncation marker itself.
    let budget = max.saturating_sub(256);
    for _ in 0..64 {
        if size(value) <= budget {
            return;
        }
        let mut best = None;
        longest_array(value, &mut String::new(), &mut best);
        let Some((pointer, len)) = best else {
            break;
        };
        let Some(Value::Array(items)) = value.pointer_mut(&pointer) else {
            break;
        };
        let kept = len / 2;
        items.truncate(kept);
        match shaped.arrays.iter_mut().find(|(p, _, _)| *p == pointer) {
            Some(entry) => entry.1 = kept,
            None => shaped.arrays.push((pointer, kept, len)),
        }
    }
    if size(value) > budget {
        cut_strings(value, &mut shaped.strings_cut);
    }
    if size(value) > budget {
        let text = value.to_string();
        let preview: String = text.chars().take(budget / 2).collect();
        *value = json!({ "preview": preview });
        shaped.previewed = true;
    }
}

fn cut_strings(value: &mut Value, count: &mut usize) {
    match value {
        Value::String(text) if text.chars().count() > CUT_STRING_CHARS => {
            let mut cut: String = text.chars().take(CUT_STRING_CHARS).collect();
            cut.push('…');
            *text = cut;
            *count += 1;
        }
        Value::Array(items) => items.iter_mut().for_each(|item| cut_strings(item, count)),
        Value::Object(map) => map.values_mut().for_each(|item| cut_strings(item, count)),
        _ => {}
    }
}

fn mark(value: &mut Value, shaped: &Shaped, max_bytes: Option<usize>) {
    let arrays: Vec<Value> = shaped
        .arrays
        .iter()
        .map(|(path, kept, total)| json!({ "path": path, "kept": kept, "total": total }))
        .collect();
    let mut note = json!({
        "note": "this answer was shortened by the gateway; ask for less data (filters, paging) to see the rest",
        "arrays": arrays,
    });
    if shaped.strings_cut > 0 {
        note["strings_cut"] = json!(shaped.strings_cut);
    }
    if shaped.previewed {
        note["previewed"] = json!(true);
    }
    if let Some(max) = max_bytes {
        note["max_bytes"] = json!(max);
    }
    match value {
        Value::Object(map) => {
            map.insert(TRUNCATION_KEY.to_owned(), note);
        }
        other => {
            let inner = other.take();
            *other = json!({ "data": inner, (TRUNCATION_KEY): note });
        }
    }
}
