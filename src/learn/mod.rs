//! (module under construction)
pub mod pdp;
