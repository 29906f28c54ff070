//! Task selection on the command line: the library's [`Task`] (dimensions, horizons,
//! exploration σ, "mpc-true" parameters) with its clap parser, the benchmark's `all`, and the
//! output format of tabular commands.

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::ValueEnum;
pub use diffop::learn::Task;

/// clap parser of `--task`: the task names, listed in `--help` and in the error message.
pub fn task_parser() -> impl TypedValueParser<Value = Task> {
    PossibleValuesParser::new(Task::ALL.map(Task::name)).try_map(|s| s.parse::<Task>())
}

/// `--task` of the benchmark: one task or all of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskSel {
    /// Every configuration.
    All,
    /// One task.
    One(Task),
}

/// Parse `all` or a task name.
pub fn parse_task_sel(s: &str) -> Result<TaskSel, String> {
    if s.eq_ignore_ascii_case("all") {
        return Ok(TaskSel::All);
    }
    s.parse::<Task>().map(TaskSel::One).map_err(|_| {
        format!("unknown task `{s}`; expected all, cartpole, arm, quadrotor, rocket or voltage")
    })
}

/// Output format of tabular commands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TableFormat {
    /// Aligned human-readable table.
    Table,
    /// JSON.
    Json,
}
