"""Let widget events (e.g. a Stop button click) be handled inside a running sync cell.

While a synchronous cell runs, the kernel's event loop is blocked, so comm messages
from the frontend (button clicks) wait until the cell ends. ``process_ui_events()``
pulls the pending shell messages off the kernel's main-thread socket itself:

* ``comm_open`` / ``comm_msg`` / ``comm_close`` are handled right away, with the
  kernel's parent header switched to the comm message and restored afterwards, so
  output of the cell and of the click callback goes to the right place;
* anything else (``execute_request`` of a queued cell, ``complete_request``, ...) is
  handed, unchanged and in arrival order, to the callback the socket's ZMQStream would
  have called. That callback only enqueues it (ipykernel 7: a task that waits on the
  shell's asyncio lock; ipykernel 6: ``msg_queue``), so it runs after this cell, in
  order, exactly as if we had never looked.

Reading the socket ourselves is safe only because we drain it to EAGAIN: a ZMQ
socket's FD is edge-triggered, so code that consumes its edge (``recv``, or even
reading ``socket.EVENTS``) and leaves messages behind strands them -- the stream is
never woken for them and the kernel wedges.

Why not re-enter the event loop (``nest_asyncio2`` + ``run_until_complete``)? On
ipykernel 7 the main shell's message callback is wrapped by ``_async_in_context``,
which runs every message's task in *one shared* ``contextvars.Context``; the running
cell has that context entered, so the click's task can't run until the cell returns
(``nest_asyncio2`` defers such handles: "Context is entered further up the stack").
Handling the message synchronously needs no nesting and leaves asyncio unpatched.

Which frontends need it (measured 2026-12-02 by ``benchmarks/measure_stop_routing.py``: a cell
displays a Button and busy-waits; the click is sent mid-wait; ipykernel 7.4, ipywidgets 8.1):

=====================================  ================  ===============  ==============
frontend                               no pump           this pump        jupyter-ui-poll
=====================================  ================  ===============  ==============
JupyterLab 4.6 in Chromium             after the cell    mid-cell, main   after the cell
Notebook 7.6 in Chromium               after the cell    mid-cell, main   (not run)
jupyter_client (tests/kernel_session)  after the cell    mid-cell, main   after the cell
jupyter_client, click via a subshell   after the cell    (same path)      (same path)
nbclient 0.11 (+ a second client)      after the cell    (same path)      (same path)
ipykernel 6.31 (jupyter_client)        after the cell    mid-cell, main   mid-cell, its
                                                                          worker thread
=====================================  ================  ===============  ==============

So every frontend that runs here still needs it. JupyterLab 4.6 does send widget messages
to a comm subshell, but ipykernel 7.4 re-routes a comm's incoming message to the shell that
last published on that comm (``Comm._reply_subshell_for``): the live view's widgets are made
and updated by the cell on the main shell, so the Stop click goes back to the main shell
and waits behind the cell. jupyter-ui-poll 1.1 calls ``kernel.do_one_iteration``, which
ipykernel 7 no longer has (it silently does nothing there) and swaps the kernel's main lock
for a null context; on ipykernel 6 it works but publishes busy/idle for each click. VS Code
cannot run here (no VS Code server or display); it is not measured.

Covers ipykernel 7.x (shell-channel thread + an inproc socket pair per shell; tested
with 7.0 and 7.4 on the main shell, subshell threads use the same path but are
untested) and, best effort, ipykernel 6.x (ROUTER ``shell_stream`` serviced by the main
thread; tested with 6.5 and 6.29). Anywhere else (terminal IPython, plain Python, a
foreign thread) it is a no-op.
"""

from __future__ import annotations

import inspect
import logging
import sys
import threading
from typing import Any

__all__ = ["process_ui_events", "watch_kernel_status"]

_COMM_MSG_TYPES = frozenset({"comm_open", "comm_msg", "comm_close"})

# Re-entrancy guard (per thread: ipykernel 7 subshells run cells in their own threads).
# A click callback that itself calls process_ui_events() must not recurse into
# the socket we are draining.
_state = threading.local()

# Set when a thread other than the main shell's published "idle" (the control thread answering
# JupyterLab's create_subshell_request, a subshell finishing a comm message): frontends show the
# last status they received, whatever request it answers, so the main thread says "busy" again.
_foreign_idle = threading.Event()
_WATCHED = "_kimi_magic_status_watch"
# The request of the cell running on the main thread while it polls for UI events (set by
# `_drain`, cleared by that thread's own "idle"), so another thread's "idle" is answered at once.
_running_parent: Any = None
_status_lock = threading.Lock()


def watch_kernel_status() -> None:
    """Note every "idle" the kernel publishes from another thread while a cell runs here.

    JupyterLab 4.6 creates a comm subshell when the first widget of a cell shows; the control
    thread's reply publishes "idle" and the status bar then read Idle for the rest of the
    answer, though the cell was still running (issue 11). `process_ui_events` answers each such
    idle with a "busy" under the running cell's request, from the main thread, so it is
    ordered before the cell's own idle. Idempotent; a no-op outside ipykernel.
    """
    if "ipykernel" not in sys.modules:
        return
    from IPython import get_ipython

    kernel = getattr(get_ipython(), "kernel", None)
    publish = getattr(kernel, "_publish_status", None)
    if publish is None or getattr(kernel, _WATCHED, False):
        return

    def publish_status(status: str, channel: str, parent: Any = None) -> None:
        global _running_parent
        with _status_lock:  # one order for the two threads' statuses on iopub
            main = threading.current_thread() is threading.main_thread()
            if status == "idle" and main:
                _running_parent = None  # the cell ended: nothing to say "busy" for any more
            publish(status, channel, parent)
            if status == "idle" and not main:
                _foreign_idle.set()
                if _running_parent is not None:
                    # Said at once, not at the next poll: the status bar would read Idle
                    # until then (seen in tests/browser as a first sample reading Idle).
                    publish("busy", "shell", _running_parent)
                    _foreign_idle.clear()

    kernel._publish_status = publish_status  # type: ignore[union-attr]
    setattr(kernel, _WATCHED, True)
    _foreign_idle.clear()


def process_ui_events() -> None:
    """Handle pending widget comm messages now; defer everything else, in order.

    Cheap when nothing is pending (a few attribute lookups and one non-blocking
    ``recv``). Never raises: a UI poll must not break the caller's streaming loop.
    """
    if "ipykernel" not in sys.modules or getattr(_state, "busy", False):
        return
    if threading.current_thread() is not threading.main_thread():
        return  # a background answer: the kernel's own loop is free and handles the click
    _state.busy = True
    try:
        _drain()
    except Exception:  # defensive: a UI poll must never break the caller's loop
        logging.getLogger(__name__).debug("process_ui_events failed", exc_info=True)
    finally:
        _state.busy = False


def _drain() -> None:
    from IPython import get_ipython

    kernel = getattr(get_ipython(), "kernel", None)
    if kernel is None or getattr(kernel, "session", None) is None:
        return
    found = _shell_streams(kernel)
    if found is None:
        return
    stream, reply_stream = found
    global _running_parent
    with _status_lock:
        _running_parent = kernel.get_parent("shell") or None
    if _foreign_idle.is_set() and threading.current_thread() is threading.main_thread():
        _foreign_idle.clear()
        kernel._publish_status("busy", "shell")  # parent: the running cell's request

    import zmq
    from zmq.eventloop.zmqstream import ZMQStream

    if not isinstance(stream, ZMQStream) or stream.closed():
        return
    socket = stream.socket
    callback = stream._recv_callback  # what the stream would call for this message
    if callback is None:
        return
    session = kernel.session

    # Drain to EAGAIN: reading the socket consumes the edge of its (edge-triggered)
    # ZMQ_FD; stopping early could strand messages the stream would never be woken for.
    while True:
        try:
            raw = socket.recv_multipart(zmq.NOBLOCK, copy=stream._recv_copy)
        except zmq.Again:
            return
        try:
            idents, frames = session.feed_identities(raw, copy=stream._recv_copy)
            # Header only (content=False) does not record the HMAC digest, so the
            # kernel can still deserialize a message we hand back.
            header = session.deserialize(frames, content=False, copy=stream._recv_copy)["header"]
            msg_type = header.get("msg_type")
        except Exception:
            msg_type = None
        handler = kernel.shell_handlers.get(msg_type) if msg_type in _COMM_MSG_TYPES else None
        # ipykernel's comm handlers are plain functions; an async one (custom kernel)
        # could only run once the loop is free, so it takes the deferred path too.
        try:
            if handler is not None and not inspect.iscoroutinefunction(handler):
                _handle_comm(kernel, handler, reply_stream, idents, frames, stream._recv_copy)
            else:
                # Same call ZMQStream._handle_recv makes: the message is only queued.
                stream._run_callback(callback, raw)
        except Exception:  # keep draining (see above); the kernel logs like this too
            kernel.log.error("Error handling a shell message during a cell", exc_info=True)


def _shell_streams(kernel: Any) -> tuple[Any, Any] | None:
    """(stream the current shell receives on, stream/socket handlers reply on)."""
    sct = getattr(kernel, "shell_channel_thread", None)
    if sct is not None:
        # ipykernel 7: the shell-channel thread forwards each message to the target
        # shell (main thread or a subshell thread) over an inproc PAIR socket.
        manager = sct.manager
        try:
            subshell_id = manager.subshell_id_from_thread_id(threading.get_ident())
        except RuntimeError:
            return None  # not a shell thread: those sockets belong to someone else
        pair = manager.get_shell_channel_to_subshell_pair(subshell_id)
        reply = manager.get_subshell_to_shell_channel_socket(subshell_id)
        return pair.to_stream, reply
    # ipykernel 6 (or 7 without a shell-channel thread): the ROUTER shell stream is
    # serviced by the main thread's loop; zmq sockets are not thread-safe.
    if threading.current_thread() is not threading.main_thread():
        return None
    stream = getattr(kernel, "shell_stream", None)
    return (stream, stream) if stream is not None else None


def _handle_comm(
    kernel: Any, handler: Any, reply_stream: Any, idents: list[Any], frames: Any, copy: bool
) -> None:
    msg = kernel.session.deserialize(frames, content=True, copy=copy)  # checks the HMAC
    saved_ident = kernel._parent_ident["shell"]  # dict in 6.x, LazyDict in 7.x
    saved_parent = kernel.get_parent("shell")
    # Flush first: text the cell printed but not yet sent would otherwise be
    # published under the click's parent header.
    _flush_std()
    kernel.set_parent(idents, msg, channel="shell")
    try:
        handler(reply_stream, idents, msg)
    finally:
        _flush_std()
        kernel.set_parent(saved_ident, saved_parent, channel="shell")


def _flush_std() -> None:
    for s in (sys.stdout, sys.stderr):
        if s is not None:
            s.flush()
