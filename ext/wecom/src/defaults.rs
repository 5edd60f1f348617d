//! `WeCom::Native::DEFAULTS`, `MAX_SECONDS` and `ROBOT_MESSAGES_PER_MINUTE`: facts the core owns,
//! read by the Ruby layer (lib/wecom/configuration.rb, settings.rb, webhook.rb) so that each is
//! written once.

use magnus::{prelude::*, Error, RModule, Ruby};
use wecom_core::config::{Connection, MAX_DURATION};
use wecom_core::webhook::MESSAGES_PER_MINUTE;

pub fn define(ruby: &Ruby, native: RModule) -> Result<(), Error> {
    let config = Connection::default();
    let defaults = ruby.hash_new();
    defaults.aset(ruby.to_symbol("base_url"), config.base_url)?;
    for (name, duration) in [
        ("timeout", config.timeout),
        ("open_timeout", config.open_timeout),
        ("idle_timeout", config.idle_timeout),
        ("retry_base_delay", config.retry_base_delay),
    ] {
        defaults.aset(ruby.to_symbol(name), duration.as_secs_f64())?;
    }
    defaults.aset(ruby.to_symbol("max_retries"), config.max_retries)?;
    defaults.freeze();
    native.const_set("DEFAULTS", defaults)?;
    native.const_set("MAX_SECONDS", MAX_DURATION.as_secs_f64())?;
    native.const_set("ROBOT_MESSAGES_PER_MINUTE", MESSAGES_PER_MINUTE)?;
    Ok(())
}
