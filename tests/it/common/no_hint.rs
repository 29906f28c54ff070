//! The model wrapper without structure hints, the reference for the hinted evaluations: the
//! library's [`diffop::model::WithoutHints`] (the hint checker `diffop::model::check_hints`
//! compares against the same wrapper).

pub use diffop::model::WithoutHints as NoHint;
