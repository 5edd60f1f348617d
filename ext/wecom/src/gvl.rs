//! Running core futures with the GVL released, interruptibly.
//!
//! `run` drives a future on the process's tokio runtime inside `rb_thread_call_without_gvl2`,
//! so other Ruby threads keep running while a request waits on the network. Ruby's unblocking
//! function (called for `Thread#kill`, `Thread#raise`, `Timeout.timeout`, signals) wakes the
//! waiting thread, which re-acquires the GVL and lets Ruby run its pending interrupts. If they
//! raise, the future is dropped — which cancels the request — and the exception propagates; if
//! they do not (a signal handler that only logs), the same future is resumed.
//!
//! Signals need one more step. Ruby runs trap handlers on the main thread, but it calls our
//! unblocking function for a signal only from another Ruby thread that happens to be waiting for
//! the GVL; in a process where none is, the handler would wait for the response. So on the main
//! thread the wait also wakes every [`SIGNAL_POLL`] to let Ruby run pending trap handlers.

use std::ffi::c_void;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use magnus::{prelude::*, Error, Ruby};
use tokio::sync::Notify;
use wecom_core::process::{self, Context};

use crate::errors;

/// The future's output, or the payload of its panic.
type Outcome<T> = std::thread::Result<T>;

/// How often a wait on the main thread gives Ruby a chance to run trap handlers.
const SIGNAL_POLL: Duration = Duration::from_millis(20);

struct Call<'a, F: Future> {
    runtime: &'a tokio::runtime::Runtime,
    future: Pin<&'a mut F>,
    interrupt: &'a Notify,
    /// Wake every SIGNAL_POLL (main thread only) so trap handlers run promptly.
    poll_signals: bool,
    /// `None` when Ruby interrupted the wait (or had an interrupt pending and never started it).
    outcome: Option<Outcome<F::Output>>,
}

/// Builds a future with the process's shared context and runs it without the GVL.
/// Never nest: the future must not call back into Ruby.
pub fn run<T, F>(ruby: &Ruby, make: impl FnOnce(Arc<Context>) -> F) -> Result<T, Error>
where
    F: Future<Output = wecom_core::error::Result<T>> + Send,
    T: Send,
{
    let engine = process::engine().map_err(|e| errors::to_ruby(ruby, e))?;
    let future = std::pin::pin!(make(engine.context.clone()));
    let mut future = future;
    let interrupt = Notify::new();
    let poll_signals = ruby.thread_current().equal(ruby.thread_main())?;
    loop {
        let mut call = Call {
            runtime: &engine.runtime,
            future: future.as_mut(),
            interrupt: &interrupt,
            poll_signals,
            outcome: None,
        };
        // SAFETY: `call` and `interrupt` outlive the call, which returns only after `wait` and
        // `unblock` can no longer run; `wait` touches no Ruby object.
        unsafe {
            rb_sys::rb_thread_call_without_gvl2(
                Some(wait::<F, T>),
                &mut call as *mut Call<'_, F> as *mut c_void,
                Some(unblock),
                &interrupt as *const Notify as *mut c_void,
            );
        }
        match call.outcome {
            Some(Ok(result)) => return result.map_err(|e| errors::to_ruby(ruby, e)),
            Some(Err(panic)) => return Err(errors::from_panic(ruby, panic)),
            // Raises for Thread#kill, Thread#raise, Timeout and signal handlers that raise;
            // returning here drops the future and so cancels the request.
            None => ruby.thread_check_ints()?,
        }
    }
}

/// Runs without the GVL: drives the future (and, on this thread's runtime, its I/O) until it
/// finishes or Ruby asks us to stop.
unsafe extern "C" fn wait<F, T>(data: *mut c_void) -> *mut c_void
where
    F: Future<Output = wecom_core::error::Result<T>>,
{
    let call = &mut *(data as *mut Call<'_, F>);
    let runtime = call.runtime;
    let interrupt = call.interrupt;
    let poll_signals = call.poll_signals;
    let future = &mut call.future;
    // A panic must not unwind through Ruby's C frames.
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
        runtime.block_on(async {
            tokio::select! {
                biased;
                () = interrupt.notified() => None,
                () = tokio::time::sleep(SIGNAL_POLL), if poll_signals => None,
                result = future => Some(result),
            }
        })
    }));
    call.outcome = match outcome {
        Ok(Some(result)) => Some(Ok(result)),
        Ok(None) => None,
        Err(panic) => Some(Err(panic)),
    };
    std::ptr::null_mut()
}

/// Ruby's unblocking function: called from another thread to interrupt `wait`. A stored permit
/// covers the race where it fires before `wait` starts listening.
unsafe extern "C" fn unblock(data: *mut c_void) {
    let interrupt = &*(data as *const Notify);
    interrupt.notify_one();
}
