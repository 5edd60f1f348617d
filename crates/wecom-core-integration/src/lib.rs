//! Nothing here: the crate is its `tests/`, wecom-core driven over real HTTP against
//! `wecom-emulator` and against real token stores.
