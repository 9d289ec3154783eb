//! The house rule: no import circles between rooms. A room is a top-level module of the
//! `openfero` crate (`src/<room>.rs` or `src/<room>/`); room A depends on room B when any of
//! A's files names `crate::B`. The graph must be acyclic, so each shared piece lives in the
//! room it belongs to and every room can be read (and tested) with only the rooms below it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src is readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module names a piece of code refers to as `crate::name` or inside
/// `crate::{a, b::c}` (comments excluded: a doc link is not a dependency).
fn crate_references(code: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    // Groups span lines (`use crate::{\n a,\n b,\n};`): strip comments, then scan the whole.
    let code: String = code
        .lines()
        .map(|line| match line.find("//") {
            Some(i) => &line[..i],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n");
    {
        let mut rest = code.as_str();
        while let Some(i) = rest.find("crate::") {
            let preceded_by_ident = rest[..i]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_alphanumeric() || c == '_');
            rest = &rest[i + "crate::".len()..];
            if preceded_by_ident {
                continue;
            }
            if let Some(group) = rest.strip_prefix('{') {
                // Top-level names of the group, skipping nested braces.
                let mut depth = 0;
                let mut name = String::new();
                let mut at_start = true;
                for c in group.chars() {
                    match c {
                        '{' => depth += 1,
                        '}' if depth == 0 => break,
                        '}' => depth -= 1,
                        ',' if depth == 0 => {
                            if !name.is_empty() {
                                out.insert(std::mem::take(&mut name));
                            }
                            at_start = true;
                        }
                        c if depth == 0 && at_start && (c.is_alphanumeric() || c == '_') => {
                            name.push(c)
                        }
                        _ if depth == 0 && at_start && !name.is_empty() => {
                            out.insert(std::mem::take(&mut name));
                            at_start = false;
                        }
                        _ => {}
                    }
                }
                if !name.is_empty() {
                    out.insert(name);
                }
            } else {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    out.insert(name);
                }
            }
        }
    }
    out
}

/// Room → the other rooms it names.
fn room_graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let room_of = |path: &Path| -> Option<String> {
        let rel = path.strip_prefix(src).ok()?;
        let first = rel.components().next()?.as_os_str().to_str()?;
        let room = first.strip_suffix(".rs").unwrap_or(first);
        (room != "lib" && room != "main").then(|| room.to_owned())
    };
    let rooms: BTreeSet<String> = files.iter().filter_map(|f| room_of(f)).collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> =
        rooms.iter().map(|r| (r.clone(), BTreeSet::new())).collect();
    for file in &files {
        let Some(room) = room_of(file) else { continue };
        let code = std::fs::read_to_string(file).expect("a source file is readable");
        for target in crate_references(&code) {
            if target != room && rooms.contains(&target) {
                graph.get_mut(&room).expect("every room").insert(target);
            }
        }
    }
    graph
}

/// One cycle of the graph, if there is any (depth-first search, colouring nodes).
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        done: &mut BTreeSet<String>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| p == node) {
            let mut cycle = path[i..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in &graph[node] {
            if let Some(cycle) = visit(next, graph, done, path) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        if let Some(cycle) = visit(node, graph, &mut done, &mut Vec::new()) {
            return Some(cycle);
        }
    }
    None
}

#[test]
fn references_are_read_from_paths_and_groups_but_not_comments() {
    let code = "use crate::http::{self, AppState};\n\
                use crate::{alerts, ids::{node_hex, NodeId}, time};\n\
                use crate::{\n    cluster::Cluster,\n    config,\n};\n\
                let x = crate::metrics::Metrics::new(); // crate::ui is only a comment\n\
                /// [`crate::site`] is a doc link\n\
                let y = mycrate::other;\n";
    let refs = crate_references(code);
    let want: BTreeSet<String> = [
        "http", "alerts", "ids", "time", "cluster", "config", "metrics",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(refs, want);
}

#[test]
fn a_cycle_is_found_and_named() {
    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("a", vec!["b"]),
        ("b", vec!["c"]),
        ("c", vec!["a"]),
        ("d", vec![]),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.into_iter().map(String::from).collect()))
    .collect();
    assert_eq!(
        find_cycle(&graph),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
}

#[test]
fn the_rooms_of_the_crate_import_each_other_without_a_circle() {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    let graph = room_graph(&src);
    assert!(graph.contains_key("http") && graph.contains_key("ui"));
    assert!(
        graph["ui"].contains("http"),
        "the scan sees ui's use of http (else it reads nothing)"
    );
    if let Some(cycle) = find_cycle(&graph) {
        let edges: Vec<String> = graph
            .iter()
            .map(|(room, deps)| format!("{room} -> {deps:?}"))
            .collect();
        panic!(
            "import circle between rooms: {}\nall edges:\n{}",
            cycle.join(" -> "),
            edges.join("\n")
        );
    }
}
