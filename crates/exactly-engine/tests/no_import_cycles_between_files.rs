//! The files of the crate import each other without cycles: every `crate::…` and `super::…`
//! path in `src/` is resolved to the file of the deepest module it names, every `mod child;`
//! is an edge from the parent to the child, and the graph of those file-to-file edges must
//! have no cycle (a file using itself does not count). The edges and any cycle are printed
//! (`--nocapture`), so a failure shows where to cut.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Module path (`["runtime", "sink"]`) → file.
fn modules(src: &Path) -> BTreeMap<Vec<String>, PathBuf> {
    let mut out = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().and_then(|e| e.to_str()) != Some("rs") {
                continue;
            }
            let relative = path.strip_prefix(src).unwrap();
            let mut parts: Vec<String> = relative
                .iter()
                .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
                .collect();
            if parts.last().is_some_and(|l| l == "mod" || l == "lib") {
                parts.pop();
            }
            out.insert(parts, path);
        }
    }
    out
}

/// The paths a `use` tree starting at `text` names (braces expanded), each as segments.
fn expand(text: &str) -> Vec<Vec<String>> {
    let mut segments = Vec::new();
    let mut rest = text;
    loop {
        let ident: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if ident.is_empty() {
            break;
        }
        rest = &rest[ident.len()..];
        segments.push(ident);
        if let Some(after) = rest.strip_prefix("::") {
            rest = after;
            if let Some(inner) = rest.strip_prefix('{') {
                let mut depth = 1;
                let mut item = String::new();
                let mut items = Vec::new();
                for c in inner.chars() {
                    match c {
                        '{' => depth += 1,
                        '}' => depth -= 1,
                        _ => {}
                    }
                    if depth == 0 {
                        break;
                    }
                    if c == ',' && depth == 1 {
                        items.push(std::mem::take(&mut item));
                    } else {
                        item.push(c);
                    }
                }
                items.push(item);
                let mut out = Vec::new();
                for item in items {
                    let item = item.trim();
                    for tail in expand(item) {
                        let mut path = segments.clone();
                        path.extend(tail);
                        out.push(path);
                    }
                }
                return out;
            }
            continue;
        }
        break;
    }
    vec![segments]
}

/// The file-to-file edges of the crate.
fn edges(src: &Path) -> BTreeSet<(PathBuf, PathBuf)> {
    let modules = modules(src);
    let mut out = BTreeSet::new();
    for (module, file) in &modules {
        let text = std::fs::read_to_string(file).unwrap();
        // Joined so that `use` trees spanning lines are read whole.
        let code: String = text
            .lines()
            .map(|line| match line.find("//") {
                Some(at) => &line[..at],
                None => line,
            })
            .collect::<Vec<_>>()
            .join(" ");
        let test_module_at = code.find("mod tests {").unwrap_or(usize::MAX);
        // A parent declares its children (`mod child;`): a child using its parent's file
        // closes a cycle.
        for (at, _) in code.match_indices("mod ") {
            let name: String = code[at + 4..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if code[at + 4 + name.len()..].starts_with(';') {
                let mut child = module.clone();
                child.push(name);
                if let Some(to) = modules.get(&child) {
                    out.insert((file.clone(), to.clone()));
                }
            }
        }
        for (at, _) in code
            .match_indices("crate::")
            .chain(code.match_indices("super::"))
        {
            let preceded = code[..at]
                .chars()
                .last()
                .is_some_and(|c| c.is_alphanumeric() || c == '_');
            if preceded {
                continue;
            }
            let is_super = code[at..].starts_with("super::");
            let base: Vec<String> = if is_super {
                // At file level `super` is the parent; inside `mod tests` the file itself.
                let is_mod_file = file.ends_with("mod.rs") || file.ends_with("lib.rs");
                if at > test_module_at || is_mod_file {
                    module.clone()
                } else {
                    module[..module.len().saturating_sub(1)].to_vec()
                }
            } else {
                Vec::new()
            };
            let start = at + 7; // both `crate::` and `super::` are 7 bytes
            for path in expand(&code[start..]) {
                let mut target = base.clone();
                let mut resolved = base.clone();
                for segment in path {
                    if segment == "self" {
                        continue;
                    }
                    target.push(segment);
                    if modules.contains_key(&target) {
                        resolved = target.clone();
                    } else {
                        break;
                    }
                }
                let to = &modules[&resolved];
                if to != file {
                    out.insert((file.clone(), to.clone()));
                }
            }
        }
    }
    out
}

#[test]
fn files_import_each_other_without_cycles() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let edges = edges(&src);
    let name = |p: &PathBuf| p.strip_prefix(&src).unwrap().display().to_string();
    for (from, to) in &edges {
        println!("{} -> {}", name(from), name(to));
    }
    // Cycle search: depth-first, reporting the first back edge's cycle.
    let mut graph: BTreeMap<&PathBuf, Vec<&PathBuf>> = BTreeMap::new();
    for (from, to) in &edges {
        graph.entry(from).or_default().push(to);
    }
    let mut cycles = Vec::new();
    let nodes: Vec<&PathBuf> = graph.keys().copied().collect();
    let mut done: BTreeSet<&PathBuf> = BTreeSet::new();
    for start in nodes {
        let mut stack: Vec<(&PathBuf, usize)> = vec![(start, 0)];
        let mut on_path: Vec<&PathBuf> = vec![start];
        while let Some((node, next)) = stack.pop() {
            let children = graph.get(node).cloned().unwrap_or_default();
            if let Some(child) = children.get(next) {
                stack.push((node, next + 1));
                if let Some(at) = on_path.iter().position(|p| p == child) {
                    let cycle: Vec<String> = on_path[at..].iter().map(|p| name(p)).collect();
                    cycles.push(format!("{} -> {}", cycle.join(" -> "), name(child)));
                } else if !done.contains(child) {
                    stack.push((child, 0));
                    on_path.push(child);
                }
            } else {
                done.insert(node);
                on_path.pop();
            }
        }
    }
    assert!(
        cycles.is_empty(),
        "import cycles between files:\n{}",
        cycles.join("\n")
    );
}
