//! Reading media (in progress).
