//! `WeCom::Native::Webhook`: the native half of `WeCom::Webhook` (lib/wecom/webhook.rb), which
//! checks arguments and builds bodies before calling in here.

use std::sync::Arc;

use magnus::{function, method, prelude::*, Error, RHash, RModule, RString, Ruby};
use wecom_core::{Webhook, WebhookConfig};

use crate::convert;
use crate::errors::{self, guard};
use crate::gvl;

#[magnus::wrap(class = "WeCom::Native::Webhook", free_immediately, size)]
struct NativeWebhook(Arc<Webhook>);

impl NativeWebhook {
    /// `connection`: see `convert::connection`.
    fn new(ruby: &Ruby, key: String, connection: RHash, per_minute: u32) -> Result<Self, Error> {
        guard(ruby, || {
            let config = WebhookConfig {
                key,
                connection: convert::connection(ruby, connection)?,
                per_minute,
            };
            let webhook = Webhook::new(config).map_err(|e| errors::to_ruby(ruby, e))?;
            Ok(NativeWebhook(Arc::new(webhook)))
        })
    }

    /// Sends one message, `body` in WeCom's shape (`{"msgtype" => ..., type => {...}}`).
    fn send(ruby: &Ruby, rb_self: &Self, body: RHash, wait: bool) -> Result<bool, Error> {
        guard(ruby, || {
            let json = convert::to_json(ruby, body.as_value(), "body")?;
            let bytes = serde_json::to_vec(&json).expect("a JSON value always serialises");
            let webhook = rb_self.0.clone();
            gvl::run(ruby, move |context| async move {
                webhook.send(&context, bytes, wait).await.map(|()| true)
            })
        })
    }

    fn upload_media(
        ruby: &Ruby,
        rb_self: &Self,
        kind: String,
        path: Option<String>,
        bytes: Option<RString>,
        filename: String,
        content_type: String,
    ) -> Result<String, Error> {
        guard(ruby, || {
            let upload = convert::multipart(ruby, path, bytes, filename, content_type)?;
            let webhook = rb_self.0.clone();
            gvl::run(ruby, move |context| async move {
                webhook.upload_media(&context, &kind, upload).await
            })
        })
    }
}

pub fn define(ruby: &Ruby, native: RModule) -> Result<(), Error> {
    let class = native.define_class("Webhook", ruby.class_object())?;
    class.define_singleton_method("new", function!(NativeWebhook::new, 3))?;
    class.define_method("send_message", method!(NativeWebhook::send, 2))?;
    class.define_method("upload_media", method!(NativeWebhook::upload_media, 5))?;
    Ok(())
}
