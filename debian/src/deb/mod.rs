//! Reading `.deb` archives (owned by the deb-reader work; see the module docs once written).
