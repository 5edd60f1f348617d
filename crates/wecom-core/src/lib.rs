//! The plain-Rust core of the wecom gem: configuration, the access-token cache and its shared
//! stores, the WeCom API client with its retry policy, and message bodies.
//!
//! No Ruby type or call appears here: the `wecom` extension crate binds it. Some parts are shaped
//! for their host all the same — `interrupt` is a wake-up that a signal handler (Ruby's
//! unblocking function) may raise, `store::TokenStore` is also implemented by the host (a Ruby
//! store object), and `process` reports warnings for the host's log. `cargo test -p wecom-core`
//! covers it on its own; its tests against the local WeCom emulator are in the
//! `wecom-core-integration` crate, so that the core's own build has no server code.

pub mod api;
pub mod batch;
pub mod client;
pub mod config;
pub mod directory;
pub mod error;
pub mod interrupt;
pub mod jssdk;
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
pub use store::{FileStore, MemoryStore, RedisStore, TokenStore};
pub use webhook::{Webhook, WebhookConfig};
