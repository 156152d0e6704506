//! [`Supervised`]: a long-running child process that a driver kills (SIGKILL) and restarts
//! on demand. Its standard input is a pipe only the parent holds, so a child that exits
//! when its input closes dies with the parent, even when the parent is SIGKILLed. Dropping
//! it kills the child. The child's side of that pipe is [`exit_when_stdin_closes`].

use std::process::{Child, Command, ExitStatus, Stdio};

/// One supervised child and what happened to it.
pub struct Supervised {
    make: Box<dyn FnMut() -> std::io::Result<Command>>,
    child: Child,
    /// SIGKILLs that landed while it was running.
    pub kills: u32,
    /// Restarts (after a kill or an exit).
    pub restarts: u32,
}

impl Supervised {
    /// Starts the command `make()` builds, with its standard input piped from this
    /// process. `make` is called again for every restart (it may open files, hence the
    /// `Result`).
    pub fn spawn(
        mut make: impl FnMut() -> std::io::Result<Command> + 'static,
    ) -> std::io::Result<Self> {
        let child = make()?.stdin(Stdio::piped()).spawn()?;
        Ok(Self {
            make: Box::new(make),
            child,
            kills: 0,
            restarts: 0,
        })
    }

    /// The running child.
    pub fn child(&mut self) -> &mut Child {
        &mut self.child
    }

    /// Whether it exited, without waiting.
    pub fn try_wait(&mut self) -> std::io::Result<Option<ExitStatus>> {
        self.child.try_wait()
    }

    /// SIGKILLs the child if it is running; returns `None` if it was, or the status it
    /// had exited with by itself. Does not restart it.
    pub fn kill(&mut self) -> std::io::Result<Option<ExitStatus>> {
        match self.child.try_wait()? {
            None => {
                self.child.kill()?; // SIGKILL on Unix
                self.child.wait()?;
                self.kills += 1;
                Ok(None)
            }
            Some(status) => Ok(Some(status)),
        }
    }

    /// Starts the command again (after [`Supervised::kill`] or an exit).
    pub fn restart(&mut self) -> std::io::Result<()> {
        self.child = (self.make)()?.stdin(Stdio::piped()).spawn()?;
        self.restarts += 1;
        Ok(())
    }

    /// [`Supervised::kill`] then [`Supervised::restart`]; returns the status the child had
    /// exited with by itself, if it had.
    pub fn kill_and_restart(&mut self) -> std::io::Result<Option<ExitStatus>> {
        let exited = self.kill()?;
        self.restart()?;
        Ok(exited)
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            // Best effort in a destructor: the child may have exited meanwhile.
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The child's side of the pipe: exits the process with `status` when standard input
/// reaches its end or fails (the parent, its only writer, is gone). Exiting mid-work is a
/// crash like any other: whatever was not committed is not.
pub fn exit_when_stdin_closes(status: i32) {
    std::thread::spawn(move || {
        let mut sink = [0u8; 64];
        loop {
            match std::io::Read::read(&mut std::io::stdin(), &mut sink) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Ok(0) | Err(_) => std::process::exit(status),
                Ok(_) => {}
            }
        }
    });
}
