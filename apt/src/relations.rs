//! Package relationship fields (`Depends`, `Pre-Depends`, `Recommends`, `Conflicts`,
//! `Breaks`, `Provides`, `Replaces`), as deb-control(5) and Debian Policy §7 define them:
//! a comma-separated list of groups, each group `|`-separated alternatives, each
//! alternative `name[:archqual] [(op version)]`. Architecture restrictions `[...]` and
//! build profiles `<...>` only appear in source packages; they are accepted and
//! ignored here (binary indices do not carry them).

use std::fmt;

use crate::version::{Version, VersionError};

/// A version comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operator {
    /// `<<`
    Less,
    /// `<=` (also the obsolete `<`)
    LessOrEqual,
    /// `=`
    Equal,
    /// `>=` (also the obsolete `>`)
    GreaterOrEqual,
    /// `>>`
    Greater,
}

impl Operator {
    /// Whether `version` satisfies `operator bound`.
    pub fn allows(self, version: &Version, bound: &Version) -> bool {
        let ordering = version.cmp(bound);
        match self {
            Operator::Less => ordering.is_lt(),
            Operator::LessOrEqual => ordering.is_le(),
            Operator::Equal => ordering.is_eq(),
            Operator::GreaterOrEqual => ordering.is_ge(),
            Operator::Greater => ordering.is_gt(),
        }
    }

    /// The operator as written in control files.
    pub fn as_str(self) -> &'static str {
        match self {
            Operator::Less => "<<",
            Operator::LessOrEqual => "<=",
            Operator::Equal => "=",
            Operator::GreaterOrEqual => ">=",
            Operator::Greater => ">>",
        }
    }
}

/// The architecture qualifier of a relation (`name:any`, `name:native`, `name:amd64`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ArchQualifier {
    /// No qualifier.
    None,
    /// `:any`: satisfied by a `Multi-Arch: allowed` package of any architecture.
    Any,
    /// `:native`.
    Native,
    /// An explicit architecture.
    Architecture(String),
}

/// One alternative: a package name with an optional version constraint.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Relation {
    /// The package (or virtual package) name.
    pub name: String,
    /// Its architecture qualifier.
    pub arch: ArchQualifier,
    /// The version constraint, if any.
    pub constraint: Option<(Operator, Version)>,
}

impl Relation {
    /// Whether a package called `name` at `version` satisfies this relation's name and
    /// version (architecture is the caller's business).
    pub fn allows_version(&self, version: &Version) -> bool {
        match &self.constraint {
            None => true,
            Some((operator, bound)) => operator.allows(version, bound),
        }
    }
}

impl fmt::Display for Relation {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.name)?;
        match &self.arch {
            ArchQualifier::None => {}
            ArchQualifier::Any => formatter.write_str(":any")?,
            ArchQualifier::Native => formatter.write_str(":native")?,
            ArchQualifier::Architecture(arch) => write!(formatter, ":{arch}")?,
        }
        if let Some((operator, version)) = &self.constraint {
            write!(formatter, " ({} {version})", operator.as_str())?;
        }
        Ok(())
    }
}

/// A group of alternatives (`a | b | c`); satisfied by any one of them.
pub type Alternatives = Vec<Relation>;

/// Why a relationship field does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RelationError {
    /// A malformed alternative.
    #[error("`{text}`: {reason}")]
    Syntax {
        /// The alternative as written.
        text: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// A malformed version in a constraint.
    #[error(transparent)]
    Version(#[from] VersionError),
}

/// Parses a relationship field into groups of alternatives. Empty groups (a trailing
/// comma) are skipped.
pub fn parse(field: &str) -> Result<Vec<Alternatives>, RelationError> {
    let mut groups = Vec::new();
    for group in field.split(',') {
        if group.trim().is_empty() {
            continue;
        }
        let mut alternatives = Vec::with_capacity(1);
        for alternative in group.split('|') {
            alternatives.push(parse_one(alternative)?);
        }
        groups.push(alternatives);
    }
    Ok(groups)
}

/// Parses a single `name[:arch] [(op version)]` (restrictions ignored).
pub fn parse_one(text: &str) -> Result<Relation, RelationError> {
    let syntax = |reason| RelationError::Syntax {
        text: text.trim().to_owned(),
        reason,
    };
    // Drop architecture restrictions and build profiles.
    let mut core = text;
    if let Some(bracket) = core.find(['[', '<']) {
        // `<` may also start an operator inside parentheses; only cut at `[`/`<` that
        // come after the closing parenthesis or when there is no parenthesis.
        let paren = core.find('(');
        let close = core.find(')');
        let cut = match (paren, close) {
            (Some(open), Some(close)) if bracket > open && bracket < close => {
                core[close..].find(['[', '<']).map(|offset| close + offset)
            }
            _ => Some(bracket),
        };
        if let Some(cut) = cut {
            core = &core[..cut];
        }
    }
    let core = core.trim();
    let (name_part, constraint_part) = match core.find('(') {
        Some(open) => {
            let close = core.rfind(')').ok_or_else(|| syntax("`(` without `)`"))?;
            if close < open || !core[close + 1..].trim().is_empty() {
                return Err(syntax("text after the version constraint"));
            }
            (core[..open].trim(), Some(core[open + 1..close].trim()))
        }
        None => (core, None),
    };
    if name_part.is_empty() {
        return Err(syntax("missing package name"));
    }
    if name_part.contains(char::is_whitespace) {
        return Err(syntax("white space inside the package name"));
    }
    let (name, arch) = match name_part.split_once(':') {
        Some((name, "any")) => (name, ArchQualifier::Any),
        Some((name, "native")) => (name, ArchQualifier::Native),
        Some((name, arch)) if !arch.is_empty() => {
            (name, ArchQualifier::Architecture(arch.to_owned()))
        }
        Some(_) => return Err(syntax("empty architecture qualifier")),
        None => (name_part, ArchQualifier::None),
    };
    if !valid_name(name) {
        return Err(syntax("not a valid package name"));
    }
    let constraint = match constraint_part {
        None => None,
        Some(inner) => {
            let (operator, rest) = if let Some(rest) = inner.strip_prefix("<<") {
                (Operator::Less, rest)
            } else if let Some(rest) = inner.strip_prefix("<=") {
                (Operator::LessOrEqual, rest)
            } else if let Some(rest) = inner.strip_prefix(">>") {
                (Operator::Greater, rest)
            } else if let Some(rest) = inner.strip_prefix(">=") {
                (Operator::GreaterOrEqual, rest)
            } else if let Some(rest) = inner.strip_prefix('=') {
                (Operator::Equal, rest)
            } else if let Some(rest) = inner.strip_prefix('<') {
                (Operator::LessOrEqual, rest)
            } else if let Some(rest) = inner.strip_prefix('>') {
                (Operator::GreaterOrEqual, rest)
            } else {
                return Err(syntax("unknown version operator"));
            };
            Some((operator, Version::parse(rest.trim())?))
        }
    };
    Ok(Relation {
        name: name.to_owned(),
        arch,
        constraint,
    })
}

/// Debian Policy §5.6.7: lower-case letters, digits, `+`, `-`, `.`; at least two
/// characters, starting with an alphanumeric. (Upper case is tolerated: some
/// third-party repositories use it.)
pub fn valid_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes[0].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'+' | b'-' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_groups_alternatives_and_constraints() {
        let groups = parse("libc6 (>= 2.34), libfoo1 | libbar2 (<< 2:1.0-1), python3:any, x (= 1)")
            .expect("parses");
        assert_eq!(groups.len(), 4);
        assert_eq!(groups[0][0].name, "libc6");
        let (operator, version) = groups[0][0].constraint.clone().expect("constraint");
        assert_eq!(operator, Operator::GreaterOrEqual);
        assert_eq!(version.to_string(), "2.34");
        assert_eq!(groups[1].len(), 2);
        assert_eq!(groups[1][1].to_string(), "libbar2 (<< 2:1.0-1)");
        assert_eq!(groups[2][0].arch, ArchQualifier::Any);
        assert!(groups[3][0].allows_version(&Version::parse("1").expect("v")));
        assert!(!groups[3][0].allows_version(&Version::parse("1.1").expect("v")));
    }

    #[test]
    fn obsolete_operators_restrictions_and_trailing_commas() {
        let groups = parse("a (< 2), b (> 1) [amd64] <!nocheck>,\n c,").expect("parses");
        assert_eq!(groups.len(), 3);
        assert_eq!(
            groups[0][0].constraint.as_ref().map(|c| c.0),
            Some(Operator::LessOrEqual)
        );
        assert_eq!(
            groups[1][0].constraint.as_ref().map(|c| c.0),
            Some(Operator::GreaterOrEqual)
        );
        assert_eq!(groups[2][0].name, "c");
    }

    #[test]
    fn rejects_malformed_alternatives() {
        for bad in [
            "(>= 1)",
            "a (>= 1",
            "a (~ 1)",
            "a b",
            "a (>= 1) x",
            "-a",
            "a:",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} must be rejected");
        }
    }
}
