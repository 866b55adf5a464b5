//! Applying an instance (in progress).
