//! # pyre-net: Pyre's runtime
//!
//! This crate will own the `mio::Poll`, the listeners, the connection slab, flow
//! control and timers (see ARCHITECTURE.md, "pyre-net"). It is part of the workspace
//! layout from the start so that the dependency direction
//! `pyre-py -> pyre-net -> pyre-h1` is fixed; the runtime itself is the server
//! issue's work. For now it re-exports the codec it is built on.

pub use pyre_h1 as h1;
