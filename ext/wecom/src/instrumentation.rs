//! `WeCom::Native.record_request_events` and `take_request_events`: the HTTP requests the calling
//! thread's native calls made in between, for `WeCom::Instrumentation`
//! (lib/wecom/instrumentation.rb) to publish. Nothing is recorded unless asked.

use magnus::{function, Error, RArray, RModule, Ruby};
use wecom_core::process;

use crate::errors;

fn record_request_events(ruby: &Ruby) -> Result<(), Error> {
    let engine = process::engine().map_err(|e| errors::to_ruby(ruby, e))?;
    engine.context.record_events();
    Ok(())
}

fn take_request_events(ruby: &Ruby) -> Result<RArray, Error> {
    let engine = process::engine().map_err(|e| errors::to_ruby(ruby, e))?;
    let events = engine.context.take_events();
    let array = ruby.ary_new_capa(events.len());
    for event in events {
        let hash = ruby.hash_new();
        hash.aset(ruby.to_symbol("path"), event.path)?;
        hash.aset(ruby.to_symbol("attempt"), event.attempt)?;
        hash.aset(ruby.to_symbol("duration"), event.duration.as_secs_f64())?;
        hash.aset(ruby.to_symbol("status"), event.status)?;
        hash.aset(ruby.to_symbol("errcode"), event.errcode)?;
        hash.aset(
            ruby.to_symbol("failure"),
            event.failure.map(|f| ruby.to_symbol(f)),
        )?;
        array.push(hash)?;
    }
    Ok(array)
}

pub fn define(native: RModule) -> Result<(), Error> {
    native.define_module_function("record_request_events", function!(record_request_events, 0))?;
    native.define_module_function("take_request_events", function!(take_request_events, 0))
}
