//! Endpoints for messages: send (one or a batch), receive, delete, change visibility, peek.
//!
//! One file per operation, each owning its request/response types and its handler;
//! `batch.rs` holds what the three write operations share: the one-or-batch body and the
//! per-entry results.

mod batch;
mod delete;
mod peek;
mod receive;
mod send;
mod visibility;

use utoipa_axum::{router::OpenApiRouter, routes};

pub use batch::{FailedEntry, HandleEntry};
pub use delete::{DeleteBatchResponse, DeleteRequest, DeletedEntry, delete_messages};
pub use peek::{PeekParams, PeekResponse, PeekedMessageDto, peek_messages};
pub use receive::{ReceiveRequest, ReceiveResponse, ReceivedMessageDto, receive_messages};
pub use send::{SendBatchResponse, SendEntryDto, SendRequest, SentMessage, send_messages};
pub use visibility::{ChangedEntry, VisibilityBatchResponse, VisibilityRequest, change_visibility};

use super::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(send::send_messages))
        .routes(routes!(receive::receive_messages))
        .routes(routes!(delete::delete_messages))
        .routes(routes!(visibility::change_visibility))
        .routes(routes!(peek::peek_messages))
}
