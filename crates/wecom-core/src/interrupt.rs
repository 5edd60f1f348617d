//! A wake-up for a thread waiting in its runtime that may be raised from anywhere — another
//! thread, or a signal handler on the waiting thread itself.
//!
//! Ruby asks to interrupt a blocked native call by calling an "unblocking function". Declared
//! async-signal-safe, it is called straight from Ruby's signal handler, which lets Ruby skip
//! starting a helper thread per blocking call (that costs more than a whole send on loopback).
//! So `raise` does only what a signal handler may: an atomic store and a `write(2)` to a
//! socket the runtime watches.

use std::io::Write;
use std::os::unix::net::UnixStream as StdUnixStream;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::net::UnixStream;

pub struct Interrupt {
    raised: AtomicBool,
    sender: StdUnixStream,
    receiver: UnixStream,
}

impl Interrupt {
    /// Must be called inside the runtime that will wait on it.
    pub fn new() -> std::io::Result<Interrupt> {
        let (sender, receiver) = StdUnixStream::pair()?;
        sender.set_nonblocking(true)?;
        receiver.set_nonblocking(true)?;
        Ok(Interrupt {
            raised: AtomicBool::new(false),
            sender,
            receiver: UnixStream::from_std(receiver)?,
        })
    }

    /// Async-signal-safe: no lock, no allocation. A full socket buffer means a wake-up is
    /// already pending, so a failed write loses nothing.
    pub fn raise(&self) {
        self.raised.store(true, Ordering::Release);
        let _ = (&self.sender).write(&[1]);
    }

    /// Forgets a wake-up raised after the previous wait ended.
    pub fn reset(&self) {
        self.raised.store(false, Ordering::Release);
        self.drain();
    }

    /// Resolves once `raise` has been called (since the last `reset`).
    pub async fn raised(&self) {
        loop {
            if self.raised.swap(false, Ordering::AcqRel) {
                self.drain();
                return;
            }
            if self.receiver.readable().await.is_err() {
                // The socket cannot fail while we own both ends; never spin if it somehow does.
                std::future::pending::<()>().await;
            }
            self.drain();
        }
    }

    fn drain(&self) {
        let mut buffer = [0u8; 64];
        while matches!(self.receiver.try_read(&mut buffer), Ok(n) if n > 0) {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    #[tokio::test]
    async fn raise_from_another_thread_wakes_the_waiter() {
        let interrupt = Arc::new(Interrupt::new().unwrap());
        let raiser = interrupt.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            raiser.raise();
        });
        tokio::time::timeout(Duration::from_secs(2), interrupt.raised())
            .await
            .expect("woken");
    }

    #[tokio::test]
    async fn reset_forgets_an_earlier_raise() {
        let interrupt = Interrupt::new().unwrap();
        interrupt.raise();
        interrupt.reset();
        let waited = tokio::time::timeout(Duration::from_millis(50), interrupt.raised()).await;
        assert!(waited.is_err(), "a stale raise must not wake the next wait");
        interrupt.raise();
        tokio::time::timeout(Duration::from_secs(1), interrupt.raised())
            .await
            .expect("woken");
    }
}
