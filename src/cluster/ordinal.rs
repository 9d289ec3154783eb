//! StatefulSet ordinals: pod `openfero-2` has ordinal 2.

/// The number after the last `-` of a node name, if the name has that shape.
pub fn ordinal_of(name: &str) -> Option<u32> {
    let (_, tail) = name.rsplit_once('-')?;
    if tail.is_empty() || !tail.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    tail.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statefulset_pod_names_have_ordinals() {
        assert_eq!(ordinal_of("openfero-0"), Some(0));
        assert_eq!(ordinal_of("my-release-openfero-12"), Some(12));
        assert_eq!(ordinal_of("n1"), None);
        assert_eq!(ordinal_of("openfero-"), None);
        assert_eq!(ordinal_of("openfero-a1"), None);
    }
}
