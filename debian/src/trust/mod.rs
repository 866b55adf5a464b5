//! Trust: `Release` files, `InRelease` signatures, keyrings (see the module docs once written).
