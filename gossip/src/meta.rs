//! Typed node metadata and its string encoding in chitchat (see [`crate::keys`]).

use serde::{Deserialize, Serialize};

use crate::keys;

/// Metadata a node publishes about itself through gossip.
///
/// Everything is carried as opaque strings/ids: this crate knows nothing about
/// Raft beyond transporting these values.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct NodeMeta {
    /// Raft node id.
    pub raft_id: u64,
    /// Address of the Raft RPC endpoint.
    pub raft_addr: String,
    /// Address of the HTTP API.
    pub api_addr: String,
    /// Human readable node name (e.g. the pod name).
    pub node_name: String,
    /// StatefulSet ordinal, when running in one.
    pub ordinal: Option<u32>,
    /// UUID of the Raft cluster, once one has been initialised.
    pub cluster_uuid: Option<String>,
    /// Number of members expected before bootstrapping.
    pub bootstrap_expect: u32,
    /// Ready to serve.
    pub ready: bool,
    /// Shutting down.
    pub leaving: bool,
    /// Last log index of the node's replicated log, as it last reported it.
    pub last_log_index: Option<u64>,
    /// Last applied index of the node's replicated log, as it last reported it.
    pub applied_index: Option<u64>,
}

impl NodeMeta {
    /// Encodes the metadata as chitchat key/values, in [`keys::ALL`] order
    /// ([`keys::RAFT_ID`] last).
    pub fn to_key_values(&self) -> Vec<(&'static str, String)> {
        keys::ALL
            .iter()
            .map(|&key| (key, self.encode_key(key)))
            .collect()
    }

    /// Encodes the value of a single key; unknown keys encode as `""`.
    pub fn encode_key(&self, key: &str) -> String {
        match key {
            keys::RAFT_ID => self.raft_id.to_string(),
            keys::RAFT_ADDR => self.raft_addr.clone(),
            keys::API_ADDR => self.api_addr.clone(),
            keys::NODE_NAME => self.node_name.clone(),
            keys::ORDINAL => encode_opt_u32(self.ordinal),
            keys::CLUSTER_UUID => self.cluster_uuid.clone().unwrap_or_default(),
            keys::BOOTSTRAP_EXPECT => self.bootstrap_expect.to_string(),
            keys::READY => encode_bool(self.ready),
            keys::LEAVING => encode_bool(self.leaving),
            keys::LAST_LOG_INDEX => encode_opt_u64(self.last_log_index),
            keys::APPLIED_INDEX => encode_opt_u64(self.applied_index),
            _ => String::new(),
        }
    }

    /// Decodes metadata from a key lookup (typically `NodeState::get`).
    ///
    /// Decoding is lenient: a missing or malformed value yields the field's
    /// default, so a peer running a newer version with a changed encoding
    /// degrades instead of disappearing.
    pub fn from_lookup<'a>(get: impl Fn(&str) -> Option<&'a str>) -> NodeMeta {
        NodeMeta {
            raft_id: get(keys::RAFT_ID)
                .and_then(|v| v.parse().ok())
                .unwrap_or_default(),
            raft_addr: get(keys::RAFT_ADDR).unwrap_or_default().to_string(),
            api_addr: get(keys::API_ADDR).unwrap_or_default().to_string(),
            node_name: get(keys::NODE_NAME).unwrap_or_default().to_string(),
            ordinal: get(keys::ORDINAL).and_then(decode_opt_u32),
            cluster_uuid: get(keys::CLUSTER_UUID).and_then(decode_opt_string),
            bootstrap_expect: get(keys::BOOTSTRAP_EXPECT)
                .and_then(|v| v.parse().ok())
                .unwrap_or_default(),
            ready: get(keys::READY).is_some_and(decode_bool),
            leaving: get(keys::LEAVING).is_some_and(decode_bool),
            last_log_index: get(keys::LAST_LOG_INDEX).and_then(|v| v.parse().ok()),
            applied_index: get(keys::APPLIED_INDEX).and_then(|v| v.parse().ok()),
        }
    }
}

fn encode_bool(value: bool) -> String {
    if value { "true" } else { "false" }.to_string()
}

fn decode_bool(value: &str) -> bool {
    value == "true"
}

fn encode_opt_u32(value: Option<u32>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

fn encode_opt_u64(value: Option<u64>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

fn decode_opt_u32(value: &str) -> Option<u32> {
    value.parse().ok()
}

fn decode_opt_string(value: &str) -> Option<String> {
    (!value.is_empty()).then(|| value.to_string())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn roundtrip(meta: &NodeMeta) -> NodeMeta {
        let map: HashMap<&str, String> = meta.to_key_values().into_iter().collect();
        NodeMeta::from_lookup(|key| map.get(key).map(String::as_str))
    }

    #[test]
    fn full_meta_roundtrips() {
        let meta = NodeMeta {
            raft_id: 7,
            raft_addr: "192.0.2.7:7000".into(),
            api_addr: "192.0.2.7:8080".into(),
            node_name: "openfero-2".into(),
            ordinal: Some(2),
            cluster_uuid: Some("4f1c".into()),
            bootstrap_expect: 3,
            ready: true,
            leaving: true,
            last_log_index: Some(42),
            applied_index: Some(41),
        };
        assert_eq!(roundtrip(&meta), meta);
    }

    #[test]
    fn default_meta_roundtrips_with_absent_options() {
        let meta = NodeMeta::default();
        let kvs = meta.to_key_values();
        assert_eq!(kvs.len(), keys::ALL.len());
        assert_eq!(kvs.last().map(|(k, _)| *k), Some(keys::RAFT_ID));
        assert!(kvs.contains(&(keys::ORDINAL, String::new())));
        assert!(kvs.contains(&(keys::CLUSTER_UUID, String::new())));
        assert_eq!(roundtrip(&meta), meta);
    }

    #[test]
    fn malformed_values_decode_to_defaults() {
        let map: HashMap<&str, &str> = [
            (keys::RAFT_ID, "not-a-number"),
            (keys::ORDINAL, "-1"),
            (keys::READY, "yes"),
            (keys::NODE_NAME, "n1"),
        ]
        .into_iter()
        .collect();
        let meta = NodeMeta::from_lookup(|key| map.get(key).copied());
        assert_eq!(meta.raft_id, 0);
        assert_eq!(meta.ordinal, None);
        assert!(!meta.ready);
        assert_eq!(meta.node_name, "n1");
    }
}
