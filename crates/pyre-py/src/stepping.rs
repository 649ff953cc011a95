//! `RequestTask`: a request's coroutine stepped from Rust, in place of an asyncio Task.
//!
//! How it works: the server calls [`RequestTask::start`] when a request arrives, and
//! the coroutine's first step runs at once, inside `on_ready`: `coro.send(None)` in
//! the request's own `contextvars.Context` (a copy of the current one, as a Task
//! makes), with the object registered as the loop's current task
//! (`asyncio._enter_task`), so `asyncio.current_task()` is this object throughout the
//! request. An application that answers without waiting (`receive()` with the body
//! already buffered, `send()` under the high-water mark: Pyre's own awaitables are
//! done futures then) finishes inside that one call: no Task object, no handle in the
//! loop's ready queue, no second loop iteration (ARCHITECTURE.md: the Task is the
//! largest Python cost per request).
//!
//! When the coroutine suspends it yields a future, Pyre's own (a pending body read, a
//! send under backpressure) or anyone's (`asyncio.sleep`, a driver's socket, a task it
//! awaits): the object adds its `_wakeup` as the future's done callback and steps the
//! coroutine again when it fires, with `coro.throw(exc)` when the future failed or was
//! cancelled: the same protocol `asyncio.Task.__step`/`__wakeup` follow (CPython
//! `Lib/asyncio/tasks.py`), so every asyncio feature works on this path.
//!
//! The coroutine is the application's own (`app(scope, receive, send)`, or the PSGI
//! handler's): no Python runner around it. When it ends, [`Settle`] finishes the
//! response in Rust (a 500 if the application raised before answering, a close if
//! it raised mid-body) and calls `report` (`pyre._asgi.report_asgi`) only when there
//! is something to log, inside the request's context.
//!
//! What it keeps from Task's API is what the standard library and anyio (so
//! Starlette, FastAPI) use on the current task: `cancel(msg)` (cancels the awaited
//! future, or throws CancelledError at the next step), `cancelling()`/`uncancel()`
//! (`asyncio.timeout`, `TaskGroup`, anyio's cancel scopes), `done()`, `cancelled()`,
//! `result()`, `exception()`, `get_coro()`, `get_name()`, `get_loop()`,
//! `add_done_callback()`, `_must_cancel` and `_fut_waiter` (which anyio reads). It is
//! not an `asyncio.Task` instance and not in `asyncio.all_tasks()`; for `asyncio.wait`
//! the server hands out [`RequestTask::done_future`].

use pyo3::exceptions::{
    PyException, PyKeyboardInterrupt, PyRuntimeError, PyStopIteration, PySystemExit, PyTypeError,
};
use pyo3::ffi;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyTuple};

use crate::channel::Channel;
use crate::errors::ClientDisconnected;

/// The asyncio functions and types a step uses, looked up once.
struct Asyncio {
    enter_task: Py<PyAny>,
    leave_task: Py<PyAny>,
    /// `asyncio.tasks._current_tasks`, the `{loop: task}` dict `current_task()` reads
    /// on Python 3.11 to 3.13: entering and leaving are then two dict operations, not
    /// two calls (3.14 keeps the current task per thread: the calls are used there).
    current_tasks: Option<Py<PyDict>>,
    cancelled_error: Py<PyAny>,
    invalid_state_error: Py<PyAny>,
}

static ASYNCIO: PyOnceLock<Asyncio> = PyOnceLock::new();

fn asyncio(py: Python<'_>) -> PyResult<&Asyncio> {
    ASYNCIO.get_or_try_init(py, || {
        let tasks = py.import("asyncio.tasks")?;
        let exceptions = py.import("asyncio.exceptions")?;
        Ok::<_, PyErr>(Asyncio {
            enter_task: tasks.getattr("_enter_task")?.unbind(),
            leave_task: tasks.getattr("_leave_task")?.unbind(),
            current_tasks: match py.version_info() < (3, 14) {
                true => tasks
                    .getattr_opt("_current_tasks")?
                    .and_then(|d| d.cast_into::<PyDict>().ok())
                    .map(Bound::unbind),
                false => None,
            },
            cancelled_error: exceptions.getattr("CancelledError")?.unbind(),
            invalid_state_error: exceptions.getattr("InvalidStateError")?.unbind(),
        })
    })
}

/// Where the coroutine is.
enum State {
    /// Started, not finished: running, suspended on `fut_waiter`, or due to step.
    Pending,
    /// Returned this value.
    Returned(Py<PyAny>),
    /// Raised this exception.
    Raised(Py<PyAny>),
    /// Ended by cancellation: the CancelledError it ended with.
    Cancelled(Py<PyAny>),
}

/// What one step of the coroutine did.
enum Step<'py> {
    Yielded(Bound<'py, PyAny>),
    Returned(Bound<'py, PyAny>),
    Raised(PyErr),
}

/// How a request's response is settled when its coroutine ends: the channel to
/// finish, and what to log through `report` (see `pyre._asgi.report_asgi`) when the
/// application ended badly. Taken out of the task when it is used, so it runs once.
pub struct Settle {
    pub channel: Py<Channel>,
    /// The scope (ASGI) or the request (PSGI): what `report` names the request by.
    pub subject: Py<PyAny>,
    pub report: Py<PyAny>,
}

impl Settle {
    /// The application returned: finish the response, and report what it left
    /// undone (a response never started, a body cut short), if anything.
    fn returned(self, py: Python<'_>) -> PyResult<()> {
        let problem = self.channel.bind(py).borrow_mut().finish(py, None);
        match problem {
            Ok(None) => Ok(()),
            Ok(Some(problem)) => self.report(py, "problem", problem.into_pyobject(py)?.into_any()),
            Err(error) => self.report(py, "raised", error.into_value(py).into_bound(py).into_any()),
        }
    }

    /// The application raised `error` (or was cancelled with it): finish the response
    /// (a 500 if none was sent, else a close) and report the error if it is an
    /// Exception; a client that went away is reported at debug level by `report`.
    fn raised(self, py: Python<'_>, error: &Bound<'_, PyAny>) -> PyResult<()> {
        if error.is_instance_of::<ClientDisconnected>() {
            let finished = self.channel.bind(py).borrow_mut().finish(py, None);
            if let Err(failure) = finished {
                return self.report(py, "raised", failure.into_value(py).into_bound(py).into_any());
            }
            return self.report(py, "disconnected", py.None().into_bound(py));
        }
        let finished = self.channel.bind(py).borrow_mut().finish(py, Some(error));
        if let Err(failure) = finished {
            return self.report(py, "raised", failure.into_value(py).into_bound(py).into_any());
        }
        if error.is_instance_of::<PyException>() {
            return self.report(py, "raised", error.clone());
        }
        Ok(())
    }

    fn report(&self, py: Python<'_>, event: &str, detail: Bound<'_, PyAny>) -> PyResult<()> {
        self.report.call1(py, (event, detail, self.subject.bind(py)))?;
        Ok(())
    }
}

/// What the application's call returned, as an iterator to step: a coroutine as it
/// is; any other awaitable through its `__await__()`; anything else is a TypeError
/// that says so (a plain `def` where `async def` was meant).
fn awaitable_iterator<'py>(returned: Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    // SAFETY: a type check on a live object.
    if unsafe { ffi::PyCoro_CheckExact(returned.as_ptr()) } != 0 {
        return Ok(returned);
    }
    let py = returned.py();
    match returned.getattr_opt(intern!(py, "__await__"))? {
        Some(method) => method.call0(),
        None => Err(PyTypeError::new_err(format!(
            "the application returned {}, not an awaitable: is it an async function?",
            returned.get_type().name()?
        ))),
    }
}

/// One request's coroutine, stepped from Rust; the loop's current task while it runs.
// Not `unsendable`: a task caught in a reference cycle (its coroutine's traceback)
// may be collected by the garbage collector on another thread, and an unsendable
// object dropped there would leak what it holds; it has no thread-bound state.
#[pyclass(weakref, module = "pyre._core")]
pub struct RequestTask {
    coro: Py<PyAny>,
    /// The request's context: every step runs in it.
    context: Py<PyAny>,
    event_loop: Py<PyAny>,
    call_soon: Py<PyAny>,
    state: State,
    /// The future the coroutine is suspended on.
    fut_waiter: Option<Py<PyAny>>,
    /// Cancellation was asked while nothing could be cancelled: the next step throws
    /// CancelledError.
    must_cancel: bool,
    cancel_message: Option<Py<PyAny>>,
    /// `cancel()` calls not yet matched by `uncancel()` (Task's `cancelling()`).
    cancels_requested: u32,
    /// `add_done_callback` callbacks and their contexts.
    callbacks: Vec<(Py<PyAny>, Option<Py<PyAny>>)>,
    /// A loop future resolved when the coroutine ends (for `asyncio.wait`), made on
    /// demand.
    done_future: Option<Py<PyAny>>,
    name: Option<String>,
    /// Finishes the response when the coroutine ends (taken then).
    settle: Option<Settle>,
}

impl RequestTask {
    /// Makes the task of the coroutine the application's call returned (`called`),
    /// its context a copy of the current one, and runs its first step now. A call
    /// that raised, or returned no awaitable, is settled at once as an application
    /// that raised: no task (None).
    pub fn start(
        py: Python<'_>,
        called: PyResult<Bound<'_, PyAny>>,
        event_loop: Py<PyAny>,
        call_soon: Py<PyAny>,
        settle: Settle,
    ) -> PyResult<Option<Py<RequestTask>>> {
        let coro = match called.and_then(awaitable_iterator) {
            Ok(coro) => coro.unbind(),
            Err(error) => {
                let fatal = is_fatal(py, &error);
                let value = error.clone_ref(py).into_value(py).into_bound(py).into_any();
                settle.raised(py, &value)?;
                return if fatal { Err(error) } else { Ok(None) };
            }
        };
        // SAFETY: PyContext_CopyCurrent takes no arguments and returns a new
        // reference, or NULL with an exception set, which from_owned_ptr_or_err turns
        // into an error.
        let context = unsafe { Bound::from_owned_ptr_or_err(py, ffi::PyContext_CopyCurrent())? };
        let task = Py::new(
            py,
            RequestTask {
                coro,
                context: context.unbind(),
                event_loop,
                call_soon,
                state: State::Pending,
                fut_waiter: None,
                must_cancel: false,
                cancel_message: None,
                cancels_requested: 0,
                callbacks: Vec::new(),
                done_future: None,
                name: None,
                settle: Some(settle),
            },
        )?;
        Self::first_step(task.bind(py))?;
        Ok(Some(task))
    }

    /// The first step, now; on the loop's next iteration instead when another task
    /// is current (a server call made from a coroutine, such as `tick()` during
    /// shutdown): two tasks cannot be current at once.
    fn first_step(slf: &Bound<'_, Self>) -> PyResult<()> {
        Self::step(slf, None)
    }

    fn is_pending(&self) -> bool {
        matches!(self.state, State::Pending)
    }

    fn cancelled_error<'py>(py: Python<'py>, message: Option<&Py<PyAny>>) -> PyResult<Bound<'py, PyAny>> {
        let kind = asyncio(py)?.cancelled_error.bind(py);
        match message {
            Some(m) => kind.call1((m,)),
            None => kind.call0(),
        }
    }

    /// Runs the coroutine to its next suspension, with `exc` thrown in if given (the
    /// protocol of `asyncio.Task.__step`).
    fn step(slf: &Bound<'_, Self>, exc: Option<Bound<'_, PyAny>>) -> PyResult<()> {
        let py = slf.py();
        let hooks = asyncio(py)?;
        let (coro, context, event_loop, exc) = {
            let mut this = slf.borrow_mut();
            if !this.is_pending() {
                return Ok(());
            }
            this.fut_waiter = None;
            let mut exc = exc;
            if this.must_cancel {
                let is_cancel = match &exc {
                    Some(e) => e.is_instance(hooks.cancelled_error.bind(py))?,
                    None => false,
                };
                if !is_cancel {
                    exc = Some(Self::cancelled_error(py, this.cancel_message.as_ref())?);
                }
                this.must_cancel = false;
            }
            (
                this.coro.clone_ref(py),
                this.context.clone_ref(py),
                this.event_loop.clone_ref(py),
                exc,
            )
        };
        if !enter_task(py, hooks, &event_loop, slf)? {
            // Another task is current: step on the loop's next iteration.
            return Self::schedule_step(slf, exc);
        }
        let outcome = run_in_context(py, context.bind(py), || resume(coro.bind(py), exc));
        leave_task(py, hooks, &event_loop, slf)?;
        match outcome? {
            Step::Yielded(yielded) => Self::suspend(slf, yielded),
            Step::Returned(value) => {
                let (cancel, settle) = {
                    let mut this = slf.borrow_mut();
                    let cancel = std::mem::take(&mut this.must_cancel).then(|| this.cancel_message.take());
                    (cancel, this.settle.take())
                };
                let state = match cancel {
                    Some(message) => {
                        let error = Self::cancelled_error(py, message.as_ref())?;
                        if let Some(settle) = settle {
                            run_in_context(py, context.bind(py), || settle.raised(py, &error))??;
                        }
                        State::Cancelled(error.unbind())
                    }
                    None => {
                        if let Some(settle) = settle {
                            run_in_context(py, context.bind(py), || settle.returned(py))??;
                        }
                        State::Returned(value.unbind())
                    }
                };
                Self::finish(slf, state)
            }
            Step::Raised(error) => {
                // into_value attaches the traceback to the exception (`__traceback__`),
                // which the log line prints.
                let value = error.clone_ref(py).into_value(py).into_bound(py).into_any();
                let settle = slf.borrow_mut().settle.take();
                if let Some(settle) = settle {
                    // In the request's context, as the application's own code ran: a
                    // log filter reading a context variable still sees it.
                    run_in_context(py, context.bind(py), || settle.raised(py, &value))??;
                }
                if error.is_instance(py, hooks.cancelled_error.bind(py)) {
                    return Self::finish(slf, State::Cancelled(value.unbind()));
                }
                let fatal = is_fatal(py, &error);
                Self::finish(slf, State::Raised(value.unbind()))?;
                if fatal {
                    // As a Task does: KeyboardInterrupt and SystemExit leave the loop.
                    return Err(error);
                }
                Ok(())
            }
        }
    }

    /// The coroutine yielded: wait for the future it yielded (Task's rules for what
    /// may be yielded).
    fn suspend(slf: &Bound<'_, Self>, yielded: Bound<'_, PyAny>) -> PyResult<()> {
        let py = slf.py();
        if yielded.is_none() {
            // A bare `yield` (asyncio.sleep(0)): step again soon.
            return Self::schedule_step(slf, None);
        }
        let blocking = yielded.getattr_opt(intern!(py, "_asyncio_future_blocking"))?;
        let problem = match blocking {
            Some(flag) if flag.is_none() => Some(format!("Task got bad yield: {}", yielded.repr()?)),
            None => Some(format!("Task got bad yield: {}", yielded.repr()?)),
            Some(flag) if !flag.is_truthy()? => Some(format!(
                "yield was used instead of yield from in task {} with {}",
                slf.repr()?,
                yielded.repr()?
            )),
            Some(_) => {
                let same_loop = yielded
                    .call_method0(intern!(py, "get_loop"))?
                    .is(slf.borrow().event_loop.bind(py));
                (!same_loop).then(|| {
                    format!(
                        "Task {} got Future {} attached to a different loop",
                        slf.repr().map(|r| r.to_string()).unwrap_or_default(),
                        yielded.repr().map(|r| r.to_string()).unwrap_or_default()
                    )
                })
            }
        };
        if let Some(message) = problem {
            let error = PyRuntimeError::new_err(message).into_value(py).into_any();
            return Self::schedule_step(slf, Some(error.into_bound(py)));
        }
        yielded.setattr(intern!(py, "_asyncio_future_blocking"), false)?;
        let wakeup = slf.getattr(intern!(py, "_wakeup"))?;
        yielded.call_method1(intern!(py, "add_done_callback"), (wakeup,))?;
        let cancel = {
            let mut this = slf.borrow_mut();
            this.fut_waiter = Some(yielded.clone().unbind());
            this.must_cancel
                .then(|| this.cancel_message.as_ref().map(|m| m.clone_ref(py)))
        };
        if let Some(message) = cancel {
            if cancel_future(&yielded, message)? {
                slf.borrow_mut().must_cancel = false;
            }
        }
        Ok(())
    }

    /// Steps on the loop's next iteration, throwing `exc` in if given.
    fn schedule_step(slf: &Bound<'_, Self>, exc: Option<Bound<'_, PyAny>>) -> PyResult<()> {
        let py = slf.py();
        let method = slf.getattr(intern!(py, "_step"))?;
        let call_soon = slf.borrow().call_soon.clone_ref(py);
        match exc {
            Some(exc) => call_soon.call1(py, (method, exc))?,
            None => call_soon.call1(py, (method,))?,
        };
        Ok(())
    }

    /// The coroutine ended: record how, and run the done callbacks soon.
    fn finish(slf: &Bound<'_, Self>, state: State) -> PyResult<()> {
        let py = slf.py();
        let (callbacks, done_future, call_soon) = {
            let mut this = slf.borrow_mut();
            this.state = state;
            this.fut_waiter = None;
            (
                std::mem::take(&mut this.callbacks),
                this.done_future.take(),
                this.call_soon.clone_ref(py),
            )
        };
        for (callback, context) in callbacks {
            match context {
                Some(context) => {
                    let kwargs = PyDict::new(py);
                    kwargs.set_item(intern!(py, "context"), context)?;
                    call_soon.call(py, (callback, slf), Some(&kwargs))?;
                }
                None => {
                    call_soon.call1(py, (callback, slf))?;
                }
            }
        }
        if let Some(fut) = done_future {
            let fut = fut.bind(py);
            if !fut.call_method0(intern!(py, "done"))?.is_truthy()? {
                fut.call_method1(intern!(py, "set_result"), (py.None(),))?;
            }
        }
        Ok(())
    }

    /// A loop future resolved when the coroutine has ended (for `asyncio.wait`).
    pub fn done_future(slf: &Bound<'_, Self>) -> PyResult<Py<PyAny>> {
        let py = slf.py();
        let mut this = slf.borrow_mut();
        if let Some(fut) = &this.done_future {
            return Ok(fut.clone_ref(py));
        }
        let fut = this.event_loop.call_method0(py, intern!(py, "create_future"))?;
        if this.is_pending() {
            this.done_future = Some(fut.clone_ref(py));
        } else {
            fut.call_method1(py, intern!(py, "set_result"), (py.None(),))?;
        }
        Ok(fut)
    }
}

/// Makes `task` the loop's current task, as `asyncio.tasks._enter_task`; false when
/// another task is current.
fn enter_task(
    py: Python<'_>,
    hooks: &Asyncio,
    event_loop: &Py<PyAny>,
    task: &Bound<'_, RequestTask>,
) -> PyResult<bool> {
    if let Some(current) = &hooks.current_tasks {
        let current = current.bind(py);
        if current.get_item(event_loop)?.is_some_and(|t| !t.is_none()) {
            return Ok(false);
        }
        current.set_item(event_loop, task)?;
        return Ok(true);
    }
    match hooks.enter_task.call1(py, (event_loop, task)) {
        Ok(_) => Ok(true),
        Err(error) if error.is_instance_of::<PyRuntimeError>(py) => Ok(false),
        Err(error) => Err(error),
    }
}

/// Ends `task`'s turn as the loop's current task, as `asyncio.tasks._leave_task`.
fn leave_task(
    py: Python<'_>,
    hooks: &Asyncio,
    event_loop: &Py<PyAny>,
    task: &Bound<'_, RequestTask>,
) -> PyResult<()> {
    if let Some(current) = &hooks.current_tasks {
        return current.bind(py).del_item(event_loop);
    }
    hooks.leave_task.call1(py, (event_loop, task))?;
    Ok(())
}

/// KeyboardInterrupt and SystemExit: raised out of the loop, as from a Task.
fn is_fatal(py: Python<'_>, error: &PyErr) -> bool {
    error.is_instance_of::<PyKeyboardInterrupt>(py) || error.is_instance_of::<PySystemExit>(py)
}

/// Cancels a future with a message if there is one; whether it was cancelled.
fn cancel_future(fut: &Bound<'_, PyAny>, message: Option<Py<PyAny>>) -> PyResult<bool> {
    let py = fut.py();
    let cancelled = match message {
        Some(message) => {
            let kwargs = PyDict::new(py);
            kwargs.set_item(intern!(py, "msg"), message)?;
            fut.call_method(intern!(py, "cancel"), (), Some(&kwargs))?
        }
        None => fut.call_method0(intern!(py, "cancel"))?,
    };
    cancelled.is_truthy()
}

/// Runs `f` with `context` entered as the current contextvars context.
fn run_in_context<'py, T>(
    py: Python<'py>,
    context: &Bound<'py, PyAny>,
    f: impl FnOnce() -> T,
) -> PyResult<T> {
    // SAFETY: `context` is a contextvars.Context (PyContext_CopyCurrent made it) and
    // is kept alive by the borrow; Enter and Exit are paired on this thread, with no
    // error pending between them (`f` returns its errors as values).
    unsafe {
        if ffi::PyContext_Enter(context.as_ptr()) != 0 {
            return Err(PyErr::fetch(py));
        }
        let out = f();
        if ffi::PyContext_Exit(context.as_ptr()) != 0 {
            return Err(PyErr::fetch(py));
        }
        Ok(out)
    }
}

/// `coro.send(None)`, or `coro.throw(exc)`.
fn resume<'py>(coro: &Bound<'py, PyAny>, exc: Option<Bound<'py, PyAny>>) -> Step<'py> {
    let py = coro.py();
    match exc {
        None => {
            let mut result = std::ptr::null_mut();
            // SAFETY: `coro` is a live object and `result` receives a new reference
            // (PYGEN_NEXT, PYGEN_RETURN) or stays NULL with an exception set
            // (PYGEN_ERROR), which PyErr::fetch takes.
            unsafe {
                match ffi::PyIter_Send(coro.as_ptr(), ffi::Py_None(), &mut result) {
                    ffi::PySendResult::PYGEN_NEXT => Step::Yielded(Bound::from_owned_ptr(py, result)),
                    ffi::PySendResult::PYGEN_RETURN => Step::Returned(Bound::from_owned_ptr(py, result)),
                    ffi::PySendResult::PYGEN_ERROR => Step::Raised(PyErr::fetch(py)),
                }
            }
        }
        Some(exc) => match coro.call_method1(intern!(py, "throw"), (exc,)) {
            Ok(yielded) => Step::Yielded(yielded),
            Err(error) if error.is_instance_of::<PyStopIteration>(py) => {
                let value = error
                    .value(py)
                    .getattr(intern!(py, "value"))
                    .unwrap_or_else(|_| py.None().into_bound(py));
                Step::Returned(value)
            }
            Err(error) => Step::Raised(error),
        },
    }
}

#[pymethods]
impl RequestTask {
    /// Called by the future the coroutine waits on, when it is done.
    fn _wakeup(slf: &Bound<'_, Self>, fut: &Bound<'_, PyAny>) -> PyResult<()> {
        let py = slf.py();
        {
            let this = slf.borrow();
            let current = this.fut_waiter.as_ref().is_some_and(|w| w.bind(py).is(fut));
            if !this.is_pending() || !current {
                return Ok(());
            }
        }
        match fut.call_method0(intern!(py, "result")) {
            Ok(_) => Self::step(slf, None),
            Err(error) => Self::step(slf, Some(error.into_value(py).into_bound(py).into_any())),
        }
    }

    /// A step scheduled with `call_soon`.
    #[pyo3(signature = (exc = None))]
    fn _step(slf: &Bound<'_, Self>, exc: Option<Bound<'_, PyAny>>) -> PyResult<()> {
        Self::step(slf, exc)
    }

    /// As `asyncio.Task.cancel`: cancels the future the coroutine waits on, or
    /// throws CancelledError into it at its next step. False when it has ended.
    #[pyo3(signature = (msg = None))]
    pub fn cancel(slf: &Bound<'_, Self>, msg: Option<Py<PyAny>>) -> PyResult<bool> {
        let py = slf.py();
        let waiter = {
            let mut this = slf.borrow_mut();
            if !this.is_pending() {
                return Ok(false);
            }
            this.cancels_requested += 1;
            this.fut_waiter.as_ref().map(|w| w.clone_ref(py))
        };
        if let Some(waiter) = waiter {
            if cancel_future(waiter.bind(py), msg.as_ref().map(|m| m.clone_ref(py)))? {
                return Ok(true);
            }
        }
        let mut this = slf.borrow_mut();
        this.must_cancel = true;
        this.cancel_message = msg;
        Ok(true)
    }

    /// Cancellation requests not yet withdrawn by `uncancel()`.
    fn cancelling(&self) -> u32 {
        self.cancels_requested
    }

    /// Withdraws one cancellation request; returns how many remain.
    fn uncancel(&mut self, py: Python<'_>) -> u32 {
        if self.cancels_requested > 0 {
            self.cancels_requested -= 1;
            // Python 3.13 forgets a pending cancellation with the last request.
            if self.cancels_requested == 0 && py.version_info() >= (3, 13) {
                self.must_cancel = false;
            }
        }
        self.cancels_requested
    }

    fn done(&self) -> bool {
        !self.is_pending()
    }

    fn cancelled(&self) -> bool {
        matches!(self.state, State::Cancelled(_))
    }

    /// The value the coroutine returned; raises what it raised, CancelledError if
    /// it was cancelled, InvalidStateError while it runs.
    fn result(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        match &self.state {
            State::Pending => Err(PyErr::from_value(
                asyncio(py)?
                    .invalid_state_error
                    .bind(py)
                    .call1(("Result is not set.",))?,
            )),
            State::Returned(value) => Ok(value.clone_ref(py)),
            State::Raised(exc) | State::Cancelled(exc) => Err(PyErr::from_value(exc.bind(py).clone())),
        }
    }

    /// The exception the coroutine raised, or None.
    fn exception(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        match &self.state {
            State::Pending => Err(PyErr::from_value(
                asyncio(py)?
                    .invalid_state_error
                    .bind(py)
                    .call1(("Exception is not set.",))?,
            )),
            State::Returned(_) => Ok(None),
            State::Raised(exc) => Ok(Some(exc.clone_ref(py))),
            State::Cancelled(exc) => Err(PyErr::from_value(exc.bind(py).clone())),
        }
    }

    #[pyo3(signature = (callback, *, context = None))]
    fn add_done_callback(
        slf: &Bound<'_, Self>,
        callback: Py<PyAny>,
        context: Option<Py<PyAny>>,
    ) -> PyResult<()> {
        let py = slf.py();
        if slf.borrow().is_pending() {
            slf.borrow_mut().callbacks.push((callback, context));
            return Ok(());
        }
        let call_soon = slf.borrow().call_soon.clone_ref(py);
        let kwargs = PyDict::new(py);
        if let Some(context) = context {
            kwargs.set_item(intern!(py, "context"), context)?;
        }
        call_soon.call(py, (callback, slf), Some(&kwargs))?;
        Ok(())
    }

    /// Removes every registration of `callback`; returns how many there were.
    fn remove_done_callback(&mut self, py: Python<'_>, callback: &Bound<'_, PyAny>) -> PyResult<usize> {
        let before = self.callbacks.len();
        let mut kept = Vec::with_capacity(before);
        for (cb, context) in std::mem::take(&mut self.callbacks) {
            if cb.bind(py).eq(callback)? {
                continue;
            }
            kept.push((cb, context));
        }
        self.callbacks = kept;
        Ok(before - self.callbacks.len())
    }

    fn get_coro(&self, py: Python<'_>) -> Py<PyAny> {
        self.coro.clone_ref(py)
    }

    fn get_context(&self, py: Python<'_>) -> Py<PyAny> {
        self.context.clone_ref(py)
    }

    fn get_loop(&self, py: Python<'_>) -> Py<PyAny> {
        self.event_loop.clone_ref(py)
    }

    /// The loop, under the attribute name a Task has (anyio reads it).
    #[getter]
    fn _loop(&self, py: Python<'_>) -> Py<PyAny> {
        self.event_loop.clone_ref(py)
    }

    fn get_name(slf: &Bound<'_, Self>) -> String {
        if let Some(name) = &slf.borrow().name {
            return name.clone();
        }
        format!("pyre-request-{:x}", slf.as_ptr() as usize)
    }

    fn set_name(&mut self, value: &Bound<'_, PyAny>) -> PyResult<()> {
        self.name = Some(value.str()?.to_string());
        Ok(())
    }

    /// A frame list as `Task.get_stack` gives (the coroutine's suspended frame).
    #[pyo3(signature = (*, limit = None))]
    fn get_stack(&self, py: Python<'_>, limit: Option<Py<PyAny>>) -> PyResult<Py<PyAny>> {
        let _ = limit;
        let frame = self.coro.bind(py).getattr_opt(intern!(py, "cr_frame"))?;
        let frames: Vec<Bound<'_, PyAny>> = frame.into_iter().filter(|f| !f.is_none()).collect();
        Ok(PyTuple::new(py, frames)?.to_list().into_any().unbind())
    }

    #[getter]
    fn _must_cancel(&self) -> bool {
        self.must_cancel
    }

    #[getter]
    fn _fut_waiter(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.fut_waiter.as_ref().map(|f| f.clone_ref(py))
    }

    fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
        let py = slf.py();
        let state = match &slf.borrow().state {
            State::Pending => "pending",
            State::Returned(_) | State::Raised(_) => "finished",
            State::Cancelled(_) => "cancelled",
        };
        let coro = slf.borrow().coro.bind(py).repr()?.to_string();
        Ok(format!(
            "<RequestTask {state} name={:?} coro={coro}>",
            Self::get_name(slf)
        ))
    }
}
