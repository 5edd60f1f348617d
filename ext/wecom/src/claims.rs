//! `WeCom::Native::Claims`: claims in a token store (lib/wecom/callback/claims.rb), so that a
//! callback WeCom delivers more than once runs its handler once across processes and hosts.

use std::sync::Arc;

use magnus::{function, gc, method, prelude::*, DataTypeFunctions, Error, RModule, Ruby, Value};
use wecom_core::store::{new_owner, TokenStore};
use wecom_core::MemoryStore;

use crate::convert;
use crate::errors::guard;
use crate::gvl;
use crate::token_store::{self, RubyStore};

#[derive(magnus::TypedData)]
#[magnus(class = "WeCom::Native::Claims", free_immediately, size, mark)]
struct NativeClaims {
    store: Arc<dyn TokenStore>,
    /// A store written in Ruby, kept alive (and in place) by `mark`.
    ruby_store: Option<Arc<RubyStore>>,
}

impl DataTypeFunctions for NativeClaims {
    fn mark(&self, marker: &gc::Marker) {
        if let Some(store) = &self.ruby_store {
            marker.mark(store.object());
        }
    }
}

impl NativeClaims {
    /// `store` as for a client (nil: this process only); `timeout` bounds each store call.
    fn new(ruby: &Ruby, store: Option<Value>, timeout: f64) -> Result<Self, Error> {
        guard(ruby, || {
            let timeout = convert::seconds(ruby, "timeout", timeout)?;
            let store = token_store::from_ruby(ruby, store, timeout)?;
            Ok(NativeClaims {
                store: store
                    .shared
                    .unwrap_or_else(|| Arc::new(MemoryStore::default())),
                ruby_store: store.ruby,
            })
        })
    }

    /// Claims `key` for `ttl` seconds: the owner's name (for `release`) when this caller got
    /// it, else nil.
    fn claim(ruby: &Ruby, rb_self: &Self, key: String, ttl: f64) -> Result<Option<String>, Error> {
        guard(ruby, || {
            let ttl = convert::seconds(ruby, "ttl", ttl)?;
            let store = rb_self.store.clone();
            gvl::run(ruby, move |_| async move {
                let owner = new_owner();
                let won = store.claim(&key, &owner, ttl).await?;
                Ok(won.then_some(owner))
            })
        })
    }

    fn release(ruby: &Ruby, rb_self: &Self, key: String, owner: String) -> Result<(), Error> {
        guard(ruby, || {
            let store = rb_self.store.clone();
            gvl::run(
                ruby,
                move |_| async move { store.release(&key, &owner).await },
            )
        })
    }

    /// Extends `owner`'s claim of `key` to `ttl` seconds from now: false when it is no longer
    /// theirs.
    fn renew(
        ruby: &Ruby,
        rb_self: &Self,
        key: String,
        owner: String,
        ttl: f64,
    ) -> Result<bool, Error> {
        guard(ruby, || {
            let ttl = convert::seconds(ruby, "ttl", ttl)?;
            let store = rb_self.store.clone();
            gvl::run(ruby, move |_| async move {
                store.renew(&key, &owner, ttl).await
            })
        })
    }

    /// Whether `renew` works with this store.
    fn renews(&self) -> bool {
        self.store.renews()
    }
}

pub fn define(ruby: &Ruby, native: RModule) -> Result<(), Error> {
    let class = native.define_class("Claims", ruby.class_object())?;
    class.define_singleton_method("new", function!(NativeClaims::new, 2))?;
    class.define_method("claim", method!(NativeClaims::claim, 2))?;
    class.define_method("release", method!(NativeClaims::release, 2))?;
    class.define_method("renew", method!(NativeClaims::renew, 3))?;
    class.define_method("renews?", method!(NativeClaims::renews, 0))?;
    Ok(())
}
