//! The plain-Rust core of the wecom gem: configuration, the access-token cache, the WeCom API
//! client with its retry policy, and message bodies. The local WeCom emulator its tests talk to
//! is the `wecom-emulator` crate, a dev-dependency only.
//!
//! Nothing here knows about Ruby; the `wecom` extension crate binds it. Everything is covered
//! by `cargo test -p wecom-core`.

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
