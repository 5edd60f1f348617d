//! The plain-Rust core of the wecom gem: configuration, the access-token cache, the WeCom API
//! client with its retry policy, and message bodies. The local WeCom emulator its tests talk to
//! is the `wecom-emulator` crate, a dev-dependency only.
//!
//! No Ruby type or call appears here: the `wecom` extension crate binds it. Some parts are shaped
//! for their host all the same — `interrupt` is a wake-up that a signal handler (Ruby's
//! unblocking function) may raise, `store::ExternalStore` is a store the host implements, and
//! `process` reports warnings for the host's log. Everything is covered by
//! `cargo test -p wecom-core`.

pub mod api;
pub mod batch;
pub mod client;
pub mod config;
pub mod error;
pub mod interrupt;
pub mod message;
pub mod payload;
pub mod process;
pub mod retry;
pub mod store;
pub mod token;
pub mod transport;
pub mod webhook;

pub use api::Repeat;
pub use batch::BatchOptions;
pub use client::{Client, SendResult};
pub use config::Config;
pub use error::{Error, ErrorKind};
pub use message::{Message, Recipients, SendOptions};
pub use payload::{Multipart, Source};
pub use process::Context;
pub use store::StoreConfig;
pub use webhook::{Webhook, WebhookConfig};
