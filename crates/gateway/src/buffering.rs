//! Request and response buffering: the process's temporary files ([`temp::TempFiles`], one directory, each
//! file unlinked at once, all of them bounded together) and a request body read whole before an upstream is
//! chosen ([`request::BodySpool`], Kong's `request_buffering`). The response side lives with the client
//! connection (`client_conn/out_buffer.rs`), since it buffers what is written to the client's socket.

pub mod request;
pub mod temp;

use std::sync::Arc;

/// The buffering settings the proxy and the connections read, fixed at start.
#[derive(Debug, Clone)]
pub struct BufferLimits {
    /// `client_body_buffer_size`: request body bytes kept in memory.
    pub body_memory: usize,
    /// `client_max_body_size` (`None`: no bound).
    pub max_body: Option<u64>,
    /// `response_buffer_size`: buffered answer bytes kept in memory per connection.
    pub response_memory: usize,
    /// `proxy_max_temp_file_size`: the temporary file of one connection's buffered answers.
    pub response_file: u64,
    /// The temporary files of the process.
    pub files: Arc<temp::TempFiles>,
}

impl BufferLimits {
    /// From the `gateway:` settings.
    pub fn new(s: &gateway_config::buffering::Buffering) -> Self {
        BufferLimits {
            body_memory: usize::try_from(s.client_body_buffer_size.0).unwrap_or(usize::MAX),
            max_body: Some(s.client_max_body_size.0).filter(|n| *n > 0),
            response_memory: usize::try_from(s.response_buffer_size.0).unwrap_or(usize::MAX),
            response_file: s.proxy_max_temp_file_size.0,
            files: Arc::new(temp::TempFiles::new(s.temp_dir(), s.temp_max_size.0)),
        }
    }
}
