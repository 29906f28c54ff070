//! The built-in policy problems of `docs/spec/ENVIRONMENTS.md`: the four nonlinear tasks in the paper's
//! Table-1 form ([`table1`]) and the voltage-control QP of eq. 11 ([`voltage`]).

pub mod init;
pub mod table1;
pub mod true_form;
pub mod voltage;

pub use table1::{NonlinearTask, Table1Policy};
pub use true_form::TrueFormPolicy;
pub use voltage::VoltagePolicy;
