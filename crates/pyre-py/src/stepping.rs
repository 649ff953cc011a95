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
//! What it keeps from Task's API is what the standard library and anyio (so
//! Starlette, FastAPI) use on the current task: `cancel(msg)` (cancels the awaited
//! future, or throws CancelledError at the next step), `cancelling()`/`uncancel()`
//! (`asyncio.timeout`, `TaskGroup`, anyio's cancel scopes), `done()`, `cancelled()`,
//! `result()`, `exception()`, `get_coro()`, `get_name()`, `get_loop()`,
//! `add_done_callback()`, `_must_cancel` and `_fut_waiter` (which anyio reads). It is
//! not an `asyncio.Task` instance and not in `asyncio.all_tasks()`; for `asyncio.wait`
//! the server hands out [`RequestTask::done_future`].

use pyo3::exceptions::{PyKeyboardInterrupt, PyRuntimeError, PyStopIteration, PySystemExit};
use pyo3::ffi;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyTuple};

/// The asyncio functions and types a step uses, looked up once.
struct Asyncio {
    enter_task: Py<PyAny>,
    leave_task: Py<PyAny>,
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

/// One request's coroutine, stepped from Rust; the loop's current task while it runs.
#[pyclass(unsendable, weakref, module = "pyre._core")]
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
}

impl RequestTask {
    /// Makes the task of `coro`, its context a copy of the current one, and runs its
    /// first step now.
    pub fn start(
        py: Python<'_>,
        coro: Py<PyAny>,
        event_loop: Py<PyAny>,
        call_soon: Py<PyAny>,
    ) -> PyResult<Py<RequestTask>> {
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
            },
        )?;
        Self::first_step(task.bind(py))?;
        Ok(task)
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
        let entered = hooks.enter_task.call1(py, (&event_loop, slf));
        if let Err(error) = entered {
            if error.is_instance_of::<PyRuntimeError>(py) {
                // Another task is current: step on the loop's next iteration.
                return Self::schedule_step(slf, exc);
            }
            return Err(error);
        }
        let outcome = run_in_context(py, context.bind(py), || resume(coro.bind(py), exc));
        hooks.leave_task.call1(py, (&event_loop, slf))?;
        match outcome? {
            Step::Yielded(yielded) => Self::suspend(slf, yielded),
            Step::Returned(value) => {
                let cancel = {
                    let mut this = slf.borrow_mut();
                    std::mem::take(&mut this.must_cancel).then(|| this.cancel_message.take())
                };
                let state = match cancel {
                    Some(message) => State::Cancelled(Self::cancelled_error(py, message.as_ref())?.unbind()),
                    None => State::Returned(value.unbind()),
                };
                Self::finish(slf, state)
            }
            Step::Raised(error) => {
                if error.is_instance(py, hooks.cancelled_error.bind(py)) {
                    return Self::finish(slf, State::Cancelled(error.into_value(py).into_any()));
                }
                let fatal = error.is_instance_of::<PyKeyboardInterrupt>(py)
                    || error.is_instance_of::<PySystemExit>(py);
                Self::finish(slf, State::Raised(error.value(py).clone().into_any().unbind()))?;
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
