//! What a request sends: a JSON body, or a multipart/form-data upload whose file is streamed from
//! disk in small chunks, so a 20 MB file is never held in memory (nor copied through Ruby).
//!
//! The multipart framing is our own rather than reqwest's `multipart::Form`: WeCom's upload APIs
//! want the file's length in the part's Content-Disposition (`filelength=`), which reqwest's
//! parts cannot carry, and the whole body's length is known up front (Content-Length, no chunked
//! encoding). The transport hands [`OutBody`] to reqwest as a streamed body (`Body::wrap`).

use std::collections::VecDeque;
use std::fs::File;
use std::io::Read;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

use crate::error::{Error, Result};

/// Bytes read from the file per body frame.
const CHUNK: usize = 64 * 1024;

/// A request body that can be sent again on a retry (a file is reopened each time).
#[derive(Clone, Debug)]
pub enum Payload {
    Json(Bytes),
    Multipart(Arc<Multipart>),
}

impl Payload {
    pub fn content_type(&self) -> String {
        match self {
            Payload::Json(_) => "application/json; charset=utf-8".to_owned(),
            Payload::Multipart(upload) => {
                format!("multipart/form-data; boundary={}", upload.boundary)
            }
        }
    }

    pub fn content_length(&self) -> u64 {
        match self {
            Payload::Json(bytes) => bytes.len() as u64,
            Payload::Multipart(upload) => upload.content_length(),
        }
    }

    /// A fresh body for one attempt.
    pub fn body(&self) -> std::io::Result<OutBody> {
        match self {
            Payload::Json(bytes) => Ok(OutBody::full(bytes.clone())),
            Payload::Multipart(upload) => upload.body(),
        }
    }
}

/// Where an upload's bytes come from.
#[derive(Clone, Debug)]
pub enum Source {
    File(PathBuf),
    Bytes(Bytes),
}

/// One file in a multipart/form-data body, as WeCom's upload APIs take it: a part named `media`
/// with the file's name, length and content type.
#[derive(Debug)]
pub struct Multipart {
    boundary: String,
    head: Bytes,
    tail: Bytes,
    source: Source,
    /// The file's length when the upload was prepared; a file that changes size fails the body.
    length: u64,
}

impl Multipart {
    pub fn new(
        field: &str,
        filename: &str,
        content_type: &str,
        source: Source,
    ) -> Result<Multipart> {
        let length = match &source {
            Source::File(path) => std::fs::metadata(path)
                .map_err(|e| {
                    Error::InvalidArgument(format!("cannot read {}: {e}", path.display()))
                })?
                .len(),
            Source::Bytes(bytes) => bytes.len() as u64,
        };
        let boundary: String = std::iter::repeat_with(fastrand::alphanumeric)
            .take(32)
            .collect();
        let head = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{}\"; filename=\"{}\"; \
             filelength={length}\r\nContent-Type: {}\r\n\r\n",
            quoted(field),
            quoted(filename),
            content_type.replace(['\r', '\n'], "")
        );
        let tail = format!("\r\n--{boundary}--\r\n");
        Ok(Multipart {
            boundary,
            head: Bytes::from(head),
            tail: Bytes::from(tail),
            source,
            length,
        })
    }

    pub fn content_length(&self) -> u64 {
        self.head.len() as u64 + self.length + self.tail.len() as u64
    }

    fn body(&self) -> std::io::Result<OutBody> {
        let mut chunks = VecDeque::from([self.head.clone()]);
        let file = match &self.source {
            Source::File(path) => Some((File::open(path)?, self.length)),
            Source::Bytes(bytes) => {
                chunks.push_back(bytes.clone());
                None
            }
        };
        Ok(OutBody {
            before: chunks,
            file,
            after: Some(self.tail.clone()),
            remaining: self.content_length(),
        })
    }
}

/// A form-data name or filename inside double quotes: quotes and line breaks percent-encoded,
/// as browsers do (RFC 7578 §4.2).
fn quoted(value: &str) -> String {
    value
        .replace('"', "%22")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// The body sent: the chunks before the file, the file read chunk by chunk, then the rest.
pub struct OutBody {
    before: VecDeque<Bytes>,
    file: Option<(File, u64)>,
    after: Option<Bytes>,
    remaining: u64,
}

impl OutBody {
    pub fn full(bytes: Bytes) -> OutBody {
        OutBody {
            remaining: bytes.len() as u64,
            before: VecDeque::from([bytes]),
            file: None,
            after: None,
        }
    }

    fn next_chunk(&mut self) -> Option<std::io::Result<Bytes>> {
        if let Some(chunk) = self.before.pop_front() {
            return Some(Ok(chunk));
        }
        if let Some((file, left)) = &mut self.file {
            if *left > 0 {
                // A blocking read of at most 64 KiB of a local file: shorter than scheduling it
                // on a blocking pool, and this runtime serves only the calling thread.
                let mut buffer = vec![0; CHUNK.min(*left as usize)];
                return Some(match file.read(&mut buffer) {
                    Ok(0) => Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "the file got shorter while it was being uploaded",
                    )),
                    Ok(n) => {
                        buffer.truncate(n);
                        *left -= n as u64;
                        Ok(Bytes::from(buffer))
                    }
                    Err(e) => Err(e),
                });
            }
            self.file = None;
        }
        self.after.take().map(Ok)
    }
}

impl Body for OutBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<std::result::Result<Frame<Bytes>, std::io::Error>>> {
        let this = self.get_mut();
        Poll::Ready(this.next_chunk().map(|chunk| {
            chunk.map(|bytes| {
                this.remaining = this.remaining.saturating_sub(bytes.len() as u64);
                Frame::data(bytes)
            })
        }))
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn collect(payload: &Payload) -> Vec<u8> {
        payload
            .body()
            .unwrap()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec()
    }

    #[tokio::test]
    async fn multipart_from_a_file_streams_it_between_head_and_tail() {
        let path = std::env::temp_dir().join(format!("wecom-payload-{}.bin", fastrand::u64(..)));
        let content: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &content).unwrap();
        let upload = Multipart::new(
            "media",
            "a \"b\".pdf",
            "application/pdf",
            Source::File(path.clone()),
        )
        .unwrap();
        let payload = Payload::Multipart(Arc::new(upload));
        let body = collect(&payload).await;
        // A retry gets the same bytes again.
        assert_eq!(collect(&payload).await, body);
        std::fs::remove_file(&path).unwrap();

        assert_eq!(body.len() as u64, payload.content_length());
        let text = String::from_utf8_lossy(&body);
        let boundary = payload
            .content_type()
            .split("boundary=")
            .nth(1)
            .unwrap()
            .to_owned();
        assert!(text.starts_with(&format!("--{boundary}\r\n")));
        assert!(text.contains(
            "Content-Disposition: form-data; name=\"media\"; filename=\"a %22b%22.pdf\"; filelength=200000\r\n"
        ));
        assert!(text.ends_with(&format!("\r\n--{boundary}--\r\n")));
        let start = body.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        assert_eq!(&body[start..start + content.len()], &content[..]);
    }

    #[tokio::test]
    async fn a_file_that_shrinks_fails_the_body() {
        let path = std::env::temp_dir().join(format!("wecom-payload-{}.bin", fastrand::u64(..)));
        std::fs::write(&path, vec![1u8; 1000]).unwrap();
        let upload = Multipart::new(
            "media",
            "x.bin",
            "application/octet-stream",
            Source::File(path.clone()),
        )
        .unwrap();
        std::fs::write(&path, vec![1u8; 10]).unwrap();
        let result = Payload::Multipart(Arc::new(upload))
            .body()
            .unwrap()
            .collect()
            .await;
        std::fs::remove_file(&path).unwrap();
        assert!(result.is_err());
    }

    #[test]
    fn a_missing_file_is_an_argument_error() {
        let err = Multipart::new(
            "media",
            "x",
            "text/plain",
            Source::File("/nonexistent/x".into()),
        )
        .unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(m) if m.contains("/nonexistent/x")));
    }
}
