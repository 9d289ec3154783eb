//! Patch bodies: JSON merge patch (RFC 7386), also used for strategic-merge and apply
//! patches, and JSON patch (RFC 6902).

use serde_json::{Map, Value};

/// The patch flavours selected by the request `Content-Type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatchKind {
    Merge,
    /// Strategic merge patch, applied as a merge patch (lists are replaced, not merged by key).
    Strategic,
    /// Server-side apply, applied as a merge patch; creates the object when missing.
    Apply,
    Json,
}

impl PatchKind {
    pub fn from_content_type(content_type: &str) -> Option<Self> {
        let essence = content_type.split(';').next().unwrap_or_default().trim();
        match essence {
            "application/merge-patch+json" => Some(Self::Merge),
            "application/strategic-merge-patch+json" => Some(Self::Strategic),
            "application/apply-patch+yaml" | "application/apply-patch+json" => Some(Self::Apply),
            "application/json-patch+json" => Some(Self::Json),
            _ => None,
        }
    }
}

/// Applies an RFC 7386 merge patch to `target` in place.
pub fn merge(target: &mut Value, patch: &Value) {
    let Value::Object(fields) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(t) = target {
        for (key, value) in fields {
            if value.is_null() {
                t.remove(key);
            } else {
                merge(t.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
    }
}

fn unescape(token: &str) -> String {
    token.replace("~1", "/").replace("~0", "~")
}

fn split_pointer(path: &str) -> Result<(String, String), String> {
    if path.is_empty() {
        return Err("json patch on the document root is not supported".to_string());
    }
    let (parent, last) = path
        .rsplit_once('/')
        .ok_or_else(|| format!("invalid json pointer `{path}`"))?;
    Ok((parent.to_string(), unescape(last)))
}

fn parent_mut<'a>(doc: &'a mut Value, parent: &str) -> Result<&'a mut Value, String> {
    doc.pointer_mut(parent)
        .ok_or_else(|| format!("path `{parent}` does not exist"))
}

fn add(doc: &mut Value, path: &str, value: Value) -> Result<(), String> {
    let (parent, key) = split_pointer(path)?;
    match parent_mut(doc, &parent)? {
        Value::Object(map) => {
            map.insert(key, value);
            Ok(())
        }
        Value::Array(items) => {
            let index = if key == "-" {
                items.len()
            } else {
                key.parse::<usize>()
                    .ok()
                    .filter(|i| *i <= items.len())
                    .ok_or_else(|| format!("invalid array index `{key}`"))?
            };
            items.insert(index, value);
            Ok(())
        }
        _ => Err(format!("path `{parent}` is not a container")),
    }
}

fn remove(doc: &mut Value, path: &str) -> Result<Value, String> {
    let (parent, key) = split_pointer(path)?;
    match parent_mut(doc, &parent)? {
        Value::Object(map) => map
            .remove(&key)
            .ok_or_else(|| format!("path `{path}` does not exist")),
        Value::Array(items) => {
            let index = key
                .parse::<usize>()
                .ok()
                .filter(|i| *i < items.len())
                .ok_or_else(|| format!("invalid array index `{key}`"))?;
            Ok(items.remove(index))
        }
        _ => Err(format!("path `{parent}` is not a container")),
    }
}

/// Applies an RFC 6902 JSON patch (`add`, `remove`, `replace`, `test`, `move`, `copy`).
pub fn json_patch(doc: &mut Value, ops: &Value) -> Result<(), String> {
    let ops = ops.as_array().ok_or("json patch must be an array")?;
    for op in ops {
        let field = |name: &str| {
            op.get(name)
                .and_then(Value::as_str)
                .ok_or_else(|| format!("json patch operation needs `{name}`"))
        };
        let value = || {
            op.get("value")
                .cloned()
                .ok_or_else(|| "json patch operation needs `value`".to_string())
        };
        let path = field("path")?;
        match field("op")? {
            "add" => add(doc, path, value()?)?,
            "remove" => {
                remove(doc, path)?;
            }
            "replace" => {
                remove(doc, path)?;
                add(doc, path, value()?)?;
            }
            "test" => {
                if doc.pointer(path) != Some(&value()?) {
                    return Err(format!("test failed at `{path}`"));
                }
            }
            "move" => {
                let moved = remove(doc, field("from")?)?;
                add(doc, path, moved)?;
            }
            "copy" => {
                let from = field("from")?;
                let copied = doc
                    .pointer(from)
                    .cloned()
                    .ok_or_else(|| format!("path `{from}` does not exist"))?;
                add(doc, path, copied)?;
            }
            other => return Err(format!("unknown json patch operation `{other}`")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_sets_replaces_and_removes() {
        let mut doc = json!({"a": {"b": 1, "c": 2}, "l": [1, 2], "x": "y"});
        merge(
            &mut doc,
            &json!({"a": {"b": null, "d": 4}, "l": [3], "x": {"z": 1}}),
        );
        assert_eq!(doc, json!({"a": {"c": 2, "d": 4}, "l": [3], "x": {"z": 1}}));
    }

    #[test]
    fn json_patch_operations_apply_in_order() {
        let mut doc = json!({"metadata": {"labels": {"a": "1"}}, "list": [1, 2]});
        let ops = json!([
            {"op": "add", "path": "/metadata/labels/b~1c", "value": "2"},
            {"op": "replace", "path": "/metadata/labels/a", "value": "3"},
            {"op": "add", "path": "/list/-", "value": 3},
            {"op": "remove", "path": "/list/0"},
            {"op": "copy", "from": "/list", "path": "/copy"},
            {"op": "test", "path": "/copy/0", "value": 2}
        ]);
        json_patch(&mut doc, &ops).expect("patch applies");
        assert_eq!(
            doc,
            json!({"metadata": {"labels": {"a": "3", "b/c": "2"}}, "list": [2, 3], "copy": [2, 3]})
        );
        assert!(json_patch(
            &mut doc,
            &json!([{"op": "test", "path": "/list/0", "value": 9}])
        )
        .is_err());
        assert!(json_patch(&mut doc, &json!([{"op": "remove", "path": "/nope"}])).is_err());
    }
}
