//! Output that never panics: every line written to standard output returns an error instead.
//!
//! `println!` panics when stdout is a closed pipe (`diffop … | head`) or a full disk
//! (`> /dev/full`). The CLI writes through [`outln!`] instead: a closed pipe becomes
//! [`OutputError::BrokenPipe`], which [`super::finish`] turns into a quiet exit with code
//! [`super::EXIT_BROKEN_PIPE`] (141, the shell's code for a process ended by SIGPIPE); any
//! other write error (ENOSPC, EIO) is [`OutputError::Write`], reported on stderr with exit 1.
//! Messages on stderr go through [`errln!`], which ignores write errors (there is nowhere left
//! to report them).

use std::fmt;
use std::io::{self, Write};

/// A failed write to standard output.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// The reader of the pipe went away (e.g. `| head`).
    #[error("standard output was closed by its reader")]
    BrokenPipe,
    /// Any other write error (e.g. no space left on the device).
    #[error("writing to standard output failed: {0}")]
    Write(io::Error),
}

impl From<io::Error> for OutputError {
    fn from(e: io::Error) -> Self {
        if e.kind() == io::ErrorKind::BrokenPipe {
            OutputError::BrokenPipe
        } else {
            OutputError::Write(e)
        }
    }
}

/// Write one formatted line to stdout (and flush it, so that a full disk is seen at once).
pub fn line(args: fmt::Arguments<'_>) -> Result<(), OutputError> {
    let mut out = io::stdout().lock();
    out.write_fmt(args)?;
    out.write_all(b"\n")?;
    out.flush()?;
    Ok(())
}

/// Flush stdout (at exit).
pub fn flush() -> Result<(), OutputError> {
    io::stdout().lock().flush().map_err(OutputError::from)
}

/// Write one formatted line to stderr; write errors are ignored.
pub fn err_line(args: fmt::Arguments<'_>) {
    let mut err = io::stderr().lock();
    let _ = err.write_fmt(args);
    let _ = err.write_all(b"\n");
}

/// `println!` that returns `Result<(), OutputError>` instead of panicking.
macro_rules! outln {
    () => { $crate::cli::out::line(format_args!("")) };
    ($($arg:tt)*) => { $crate::cli::out::line(format_args!($($arg)*)) };
}

/// `eprintln!` that ignores write errors instead of panicking.
macro_rules! errln {
    ($($arg:tt)*) => { $crate::cli::out::err_line(format_args!($($arg)*)) };
}

pub(crate) use errln;
pub(crate) use outln;
