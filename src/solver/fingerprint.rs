//! Which model a workspace solved: the sensitivity routines refuse any other.
//!
//! A workspace sized for one model accepts every model of the same dimensions, but its kept
//! factorization, blocks and multipliers belong to the model it solved; differentiating them
//! with another model's θ-derivatives would be silently wrong.

use crate::model::{Dims, OcpModel};

/// Identity of a model as far as the workspace can tell: its Rust type, [`OcpModel::name`],
/// dimensions and [`OcpModel::symbolic_key`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelFingerprint {
    /// `std::any::type_name` of the model.
    pub type_name: &'static str,
    /// [`OcpModel::name`].
    pub name: String,
    /// [`OcpModel::dims`].
    pub dims: Dims,
    /// [`OcpModel::symbolic_key`].
    pub symbolic_key: Option<u64>,
}

impl ModelFingerprint {
    /// The fingerprint of `model`.
    pub fn of<M: OcpModel>(model: &M) -> Self {
        Self {
            type_name: std::any::type_name::<M>(),
            name: model.name().to_string(),
            dims: model.dims(),
            symbolic_key: model.symbolic_key(),
        }
    }

    /// True when `model` has this fingerprint.
    pub fn matches<M: OcpModel>(&self, model: &M) -> bool {
        self.type_name == std::any::type_name::<M>()
            && self.dims == model.dims()
            && self.symbolic_key == model.symbolic_key()
            && self.name == model.name()
    }

    /// Become the fingerprint of `model`, reusing the name's storage (no allocation when the
    /// name is unchanged, as in a control loop).
    pub(crate) fn set<M: OcpModel>(&mut self, model: &M) {
        self.type_name = std::any::type_name::<M>();
        self.dims = model.dims();
        self.symbolic_key = model.symbolic_key();
        let name = model.name();
        if self.name != name {
            self.name.clear();
            self.name.push_str(name);
        }
    }
}
