//! Declarative edits of a root tree (being written).
