//! The Ruby binding of wecom-core. `Init_wecom` registers the native classes under
//! `WeCom::Native`; the public Ruby API in `lib/wecom/` wraps them.

mod callback;
mod claims;
mod client;
mod convert;
mod defaults;
mod emulator;
mod errors;
mod gvl;
mod instrumentation;
mod quick_send;
mod token_store;
mod webhook;

use magnus::{prelude::*, Error, Ruby};

#[magnus::init(name = "wecom_native")]
fn init(ruby: &Ruby) -> Result<(), Error> {
    let wecom = ruby.define_module("WeCom")?;
    let native = wecom.define_module("Native")?;
    callback::define(ruby, native)?;
    claims::define(ruby, native)?;
    client::define(ruby, native)?;
    convert::define(native)?;
    defaults::define(ruby, native)?;
    emulator::define(ruby, native)?;
    errors::define(native)?;
    instrumentation::define(native)?;
    quick_send::define(ruby, native)?;
    webhook::define(ruby, native)?;
    Ok(())
}
