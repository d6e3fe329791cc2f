//! UniFFI bindings of `bianmin-client-core` for Kotlin, Swift and Python.
//!
//! Empty on purpose: the bindings are the work of the ffi issue and build on the sync client.
//! Nothing here pretends to work yet.
