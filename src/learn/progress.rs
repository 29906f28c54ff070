//! The iteration progress bar of training runs: indicatif on a terminal with the `progress`
//! feature (on by default through `cli`), otherwise nothing (the runs still log plain lines
//! when stderr is not a terminal).

/// A progress bar on stderr, or a hidden one.
pub(crate) struct Progress {
    #[cfg(feature = "progress")]
    bar: indicatif::ProgressBar,
}

impl Progress {
    /// A bar of `len` iterations, hidden unless `visible`.
    pub(crate) fn new(len: usize, visible: bool) -> Self {
        #[cfg(feature = "progress")]
        {
            use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
            if !visible {
                return Self {
                    bar: ProgressBar::hidden(),
                };
            }
            let bar = ProgressBar::with_draw_target(Some(len as u64), ProgressDrawTarget::stderr());
            if let Ok(style) = ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} it  {msg}  ETA {eta}",
            ) {
                bar.set_style(style);
            }
            Self { bar }
        }
        #[cfg(not(feature = "progress"))]
        {
            let _ = (len, visible);
            Self {}
        }
    }

    /// Set the position.
    pub(crate) fn set_position(&self, pos: u64) {
        #[cfg(feature = "progress")]
        self.bar.set_position(pos);
        #[cfg(not(feature = "progress"))]
        let _ = pos;
    }

    /// Set the message after the bar.
    pub(crate) fn set_message(&self, msg: String) {
        #[cfg(feature = "progress")]
        self.bar.set_message(msg);
        #[cfg(not(feature = "progress"))]
        let _ = msg;
    }

    /// Run `f` with the bar hidden (to print a line).
    pub(crate) fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        #[cfg(feature = "progress")]
        return self.bar.suspend(f);
        #[cfg(not(feature = "progress"))]
        f()
    }

    /// Remove the bar.
    pub(crate) fn finish_and_clear(&self) {
        #[cfg(feature = "progress")]
        self.bar.finish_and_clear();
    }
}

/// Write a line to stderr, ignoring write errors (a closed or full stderr must not panic a
/// training run).
pub(crate) fn log_line(args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut err = std::io::stderr().lock();
    let _ = err.write_fmt(args);
    let _ = err.write_all(b"\n");
}
