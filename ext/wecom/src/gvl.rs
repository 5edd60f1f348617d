//! Running core futures with the GVL released, interruptibly.
//!
//! `run` drives a future on the calling thread's runtime inside `rb_nogvl`, so other Ruby
//! threads keep running while a request waits on the network. Ruby's unblocking function
//! (called for `Thread#kill`, `Thread#raise`, `Timeout.timeout`, and straight from its signal
//! handler for signals) wakes the wait, the thread re-acquires the GVL and lets Ruby run its
//! pending interrupts. If they raise, the future is dropped — which cancels the request — and
//! the exception propagates; if they do not (a trap handler that only logs), the same future is
//! resumed.
//!
//! The unblocking function is declared async-signal-safe (`RB_NOGVL_UBF_ASYNC_SAFE`): without
//! that flag Ruby starts and kills a helper thread around every blocking call on the main
//! thread, which cost more than a whole send. See wecom_core::interrupt for why it is safe.
//!
//! Ruby calls an async-safe unblocking function from its signal handler only while the main
//! thread is the process's only Ruby thread. With other threads alive, a trap handler would
//! wait for the response (nothing calls us), so a wait on the main thread also wakes every
//! [`SIGNAL_POLL`] to let Ruby run pending trap handlers.

use std::cell::{Cell, RefCell};
use std::ffi::c_void;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use magnus::{prelude::*, Error, Ruby, Value};
use wecom_core::interrupt::Interrupt;
use wecom_core::process::{self, Context};

use crate::errors;

/// Ruby work a running future needs (a token store written in Ruby): queued without the GVL,
/// run by `run` with it.
pub type RubyJob = Box<dyn FnOnce(&Ruby) -> Result<(), Error>>;

thread_local! {
    static JOBS: RefCell<Vec<RubyJob>> = const { RefCell::new(Vec::new()) };
    /// True while a job runs: a send paused in the middle for a token store written in Ruby.
    static IN_JOB: Cell<bool> = const { Cell::new(false) };
}

/// Queues `job` and wakes this thread's wait so `run` runs it. Called from inside a future
/// that `run` drives on this thread.
pub fn queue_ruby_job(job: RubyJob) {
    JOBS.with(|jobs| jobs.borrow_mut().push(job));
    if let Ok(engine) = process::engine() {
        engine.interrupt.raise();
    }
}

/// Runs the queued jobs with the GVL. A job's error (an interrupt) ends the send.
fn run_jobs(ruby: &Ruby) -> Result<(), Error> {
    loop {
        let Some(job) = JOBS.with(|jobs| jobs.borrow_mut().pop()) else {
            return Ok(());
        };
        IN_JOB.with(|flag| flag.set(true));
        let ran = job(ruby);
        IN_JOB.with(|flag| flag.set(false));
        ran?;
    }
}

/// A send made from inside a token store method (one that alerts through WeCom, say) would wait
/// for the send it interrupted, which waits for it: refuse it at once instead.
fn refuse_reentry(ruby: &Ruby) -> Result<(), Error> {
    if !IN_JOB.with(Cell::get) {
        return Ok(());
    }
    Err(errors::to_ruby(
        ruby,
        wecom_core::Error::Configuration(
            "a token store method called wecom while a send was waiting for it on the same thread \
             (it would wait for itself); send from another thread, or after the store returns"
                .into(),
        ),
    ))
}

/// Hands the core's warnings (a token store that cannot be written) to the Ruby log.
fn log_warnings(ruby: &Ruby) {
    let warnings = process::take_warnings();
    if warnings.is_empty() {
        return;
    }
    let Ok(instrumentation) = ruby.eval::<Value>("WeCom::Instrumentation") else {
        return;
    };
    for warning in warnings {
        let _ = instrumentation.funcall::<_, _, Value>("warn", (warning,));
    }
}

/// The future's output, or the payload of its panic.
type Caught<T> = std::thread::Result<T>;

/// How often a wait on the main thread gives Ruby a chance to run trap handlers.
const SIGNAL_POLL: Duration = Duration::from_millis(20);

/// One wait without the GVL: what `wait` drives, and what it leaves for `run`.
struct Waiting<'a, F: Future> {
    runtime: &'a tokio::runtime::Runtime,
    future: Pin<&'a mut F>,
    interrupt: &'a Interrupt,
    /// Wake every SIGNAL_POLL (main thread only) so trap handlers run promptly.
    poll_signals: bool,
    /// `None` when Ruby interrupted the wait (or had an interrupt pending and never started it).
    outcome: Option<Caught<F::Output>>,
}

/// Builds a future with the thread's context and runs it without the GVL.
/// Never nest: the future must not call back into Ruby (it is `Send`, so it holds no Ruby value).
pub fn run<T, F>(ruby: &Ruby, make: impl FnOnce(Arc<Context>) -> F) -> Result<T, Error>
where
    F: Future<Output = wecom_core::error::Result<T>> + Send,
    T: Send,
{
    refuse_reentry(ruby)?;
    let engine = process::engine().map_err(|e| errors::to_ruby(ruby, e))?;
    let mut future = std::pin::pin!(make(engine.context.clone()));
    engine.interrupt.reset();
    let flags = (rb_sys::RB_NOGVL_INTR_FAIL | rb_sys::RB_NOGVL_UBF_ASYNC_SAFE) as i32;
    // Alone, the main thread needs no timer: Ruby's signal handler unblocks it itself, and no
    // other Ruby thread can start while it waits without the GVL.
    // SAFETY: called with the GVL, like any Ruby API.
    let alone = unsafe { rb_sys::rb_thread_alone() } != 0;
    let poll_signals = !alone && ruby.thread_current().equal(ruby.thread_main())?;
    loop {
        let mut call = Waiting {
            runtime: &engine.runtime,
            future: future.as_mut(),
            interrupt: &engine.interrupt,
            poll_signals,
            outcome: None,
        };
        // SAFETY: `call` and the interrupt outlive the call, which returns only after `wait`
        // and `unblock` can no longer run; `wait` touches no Ruby object. With INTR_FAIL Ruby
        // neither runs `wait` when an interrupt is already pending nor raises on the way out:
        // we check interrupts ourselves below, with no Rust frame to skip.
        unsafe {
            rb_sys::rb_nogvl(
                Some(wait::<F, T>),
                &mut call as *mut Waiting<'_, F> as *mut c_void,
                Some(unblock),
                &engine.interrupt as *const Interrupt as *mut c_void,
                flags,
            );
        }
        if call.outcome.is_some() {
            log_warnings(ruby);
        }
        match call.outcome {
            Some(Ok(result)) => return result.map_err(|e| errors::to_ruby(ruby, e)),
            Some(Err(panic)) => return Err(errors::from_panic(ruby, panic)),
            // Woken for Ruby work, or by Ruby. Interrupts raise for Thread#kill, Thread#raise,
            // Timeout and trap handlers that raise; returning drops the future, which cancels
            // the request.
            None => {
                let ran = run_jobs(ruby).and_then(|()| ruby.thread_check_ints());
                if let Err(error) = ran {
                    JOBS.with(|jobs| jobs.borrow_mut().clear());
                    return Err(error);
                }
            }
        }
    }
}

/// Runs without the GVL: drives the future (and, on this thread's runtime, its I/O) until it
/// finishes or Ruby asks us to stop.
unsafe extern "C" fn wait<F, T>(data: *mut c_void) -> *mut c_void
where
    F: Future<Output = wecom_core::error::Result<T>>,
{
    let call = &mut *(data as *mut Waiting<'_, F>);
    let runtime = call.runtime;
    let interrupt = call.interrupt;
    let poll_signals = call.poll_signals;
    let future = &mut call.future;
    // A panic must not unwind through Ruby's C frames.
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
        runtime.block_on(async {
            tokio::select! {
                biased;
                () = interrupt.raised() => None,
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

/// Ruby's unblocking function, called from another thread or from a signal handler: only
/// async-signal-safe work (see `Interrupt::raise`).
unsafe extern "C" fn unblock(data: *mut c_void) {
    (*(data as *const Interrupt)).raise();
}
