//! Checks on names and in-tree paths made at evaluation time, so that a bad path is
//! reported at the line of the call rather than when the tree is built.

use imgbuild_evaluator::BuiltinError;

/// Checks a derivation name: non-empty, no `/`, no NUL, at most 200 bytes.
pub(crate) fn check_name(function: &str, name: &str) -> Result<(), BuiltinError> {
    if name.is_empty()
        || name.len() > 200
        || name.contains(['/', '\0'])
        || name == "."
        || name == ".."
    {
        return Err(
            BuiltinError::new(format!("{function}: `{name}` is not a usable name"))
                .with_help("names are non-empty, at most 200 bytes, without '/'"),
        );
    }
    Ok(())
}

/// Normalises an in-tree path (`/etc/x`, `etc/x`, `etc//x/` all become `etc/x`); the
/// root is the empty string. Rejects `..`, `.` components, NUL and over-long names.
pub(crate) fn normalize_tree_path(function: &str, path: &str) -> Result<String, BuiltinError> {
    let mut parts = Vec::new();
    for component in path.split('/') {
        if component.is_empty() {
            continue;
        }
        if component == "." || component == ".." {
            return Err(BuiltinError::new(format!(
                "{function}: path `{path}` contains `{component}`"
            ))
            .with_help("tree paths are plain paths from the tree's root, without `.` or `..`"));
        }
        if component.contains('\0') || component.len() > 255 {
            return Err(BuiltinError::new(format!(
                "{function}: path `{path}` has a component that is too long or contains NUL"
            )));
        }
        parts.push(component);
    }
    Ok(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: Result<&str, ()>) {
        let actual = normalize_tree_path("test", input).map_err(|_| ());
        assert_eq!(actual.as_deref().map_err(|_| ()), expected, "for {input:?}");
    }

    #[test]
    fn normalizes_paths() {
        check("/etc/x", Ok("etc/x"));
        check("etc//x/", Ok("etc/x"));
        check("/", Ok(""));
        check("../x", Err(()));
        check("a/./b", Err(()));
    }
}
