//! Template, not a module of the generator: the support code the client generator appends, once,
//! to a generated client whose document has a `multipart/form-data` operation (`UploadFile`, the
//! file part those methods take, and `UploadProgress`).
//!
//! Parsed with `syn` and emitted item by item (this `//!` header is dropped), so it must stay a
//! valid Rust file that compiles inside the generated module: besides what progenitor's output
//! already needs it may only use `bytes`, `futures-util`, `tokio` (`fs`) and `tokio-util` (`io`).
//! It must never hold a whole file in memory: parts are streamed as the request is sent.

/// How far an upload has got, as passed to an [`UploadFile::with_progress`] callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadProgress {
    /// Bytes of the file handed to the HTTP stack so far.
    pub sent: u64,
    /// The file's length, when it is known.
    pub total: Option<u64>,
}

/// The chunks of a file part, whatever they are read from.
type UploadChunks = ::std::pin::Pin<
    Box<
        dyn ::futures_util::Stream<
                Item = ::std::result::Result<
                    ::bytes::Bytes,
                    Box<dyn ::std::error::Error + Send + Sync>,
                >,
            > + Send,
    >,
>;

/// A progress callback, shared with the stream that reports to it.
type UploadProgressFn = ::std::sync::Arc<dyn Fn(UploadProgress) + Send + Sync>;

/// A file to send as a part of a `multipart/form-data` request.
///
/// The file is streamed: it is read chunk by chunk while the request is sent, never held in memory
/// as a whole. When the length is known (always with [`UploadFile::from_path`]) the request carries
/// a `Content-Length` and a source that yields more or fewer bytes than that fails the request
/// instead of sending a truncated or overlong part.
pub struct UploadFile {
    file_name: ::std::string::String,
    length: Option<u64>,
    content_type: Option<::std::string::String>,
    chunks: UploadChunks,
    progress: Option<UploadProgressFn>,
}

impl UploadFile {
    /// Size of the chunks a file or reader is read in.
    const CHUNK_SIZE: usize = 64 * 1024;

    /// Opens the file at `path`; the part's file name is the path's last component and its
    /// length is the file's size now.
    pub async fn from_path(path: impl AsRef<::std::path::Path>) -> ::std::io::Result<Self> {
        let path = path.as_ref();
        let file_name = path
            .file_name()
            .ok_or_else(|| {
                ::std::io::Error::new(
                    ::std::io::ErrorKind::InvalidInput,
                    format!("{} does not name a file", path.display()),
                )
            })?
            .to_string_lossy()
            .into_owned();
        let file = ::tokio::fs::File::open(path).await?;
        let length = file.metadata().await?.len();
        Ok(Self::from_reader(file_name, file, Some(length)))
    }

    /// Reads the part from `reader`, which should yield exactly `length` bytes when that is given
    /// (without one, the request is sent with chunked transfer encoding).
    pub fn from_reader<R>(
        file_name: impl Into<::std::string::String>,
        reader: R,
        length: Option<u64>,
    ) -> Self
    where
        R: ::tokio::io::AsyncRead + Send + 'static,
    {
        Self::from_stream(
            file_name,
            ::tokio_util::io::ReaderStream::with_capacity(reader, Self::CHUNK_SIZE),
            length,
        )
    }

    /// Takes the part's bytes from `stream`, which should yield exactly `length` bytes when that
    /// is given (without one, the request is sent with chunked transfer encoding).
    pub fn from_stream<S, E>(
        file_name: impl Into<::std::string::String>,
        stream: S,
        length: Option<u64>,
    ) -> Self
    where
        S: ::futures_util::Stream<Item = ::std::result::Result<::bytes::Bytes, E>> + Send + 'static,
        E: Into<Box<dyn ::std::error::Error + Send + Sync>> + 'static,
    {
        use ::futures_util::TryStreamExt as _;
        Self {
            file_name: file_name.into(),
            length,
            content_type: None,
            chunks: Box::pin(stream.map_err(Into::into)),
            progress: None,
        }
    }

    /// Sends the part with this content type instead of the operation's default (the first
    /// `encoding.contentType` of the document, else `application/octet-stream`). An invalid
    /// media type fails the request with `Error::InvalidRequest`.
    pub fn with_content_type(mut self, content_type: impl Into<::std::string::String>) -> Self {
        self.content_type = Some(content_type.into());
        self
    }

    /// Calls `progress` each time a chunk of the file is handed to the HTTP stack, with the bytes
    /// handed over so far. That is "bytes sent" as far as the client can observe: the chunk may
    /// still sit in socket buffers, and the server may not have read it yet.
    pub fn with_progress(
        mut self,
        progress: impl Fn(UploadProgress) + Send + Sync + 'static,
    ) -> Self {
        self.progress = Some(::std::sync::Arc::new(progress));
        self
    }

    /// Sends the part under `file_name` instead (e.g. when the file's own name breaks the
    /// server's rule for names).
    pub fn with_file_name(mut self, file_name: impl Into<::std::string::String>) -> Self {
        self.file_name = file_name.into();
        self
    }

    /// The file name the part is sent with.
    pub fn file_name(&self) -> &str {
        &self.file_name
    }

    /// The part's length in bytes, if known.
    pub fn length(&self) -> Option<u64> {
        self.length
    }

    /// The multipart part, streaming, with this file's content type or `default_content_type`.
    fn into_part(
        self,
        default_content_type: &str,
    ) -> ::reqwest::Result<::reqwest::multipart::Part> {
        let content_type = self
            .content_type
            .as_deref()
            .unwrap_or(default_content_type)
            .to_string();
        let chunks = UploadCounted {
            chunks: self.chunks,
            sent: 0,
            total: self.length,
            progress: self.progress,
            done: false,
        };
        let body = ::reqwest::Body::wrap_stream(chunks);
        let part = match self.length {
            Some(length) => ::reqwest::multipart::Part::stream_with_length(body, length),
            None => ::reqwest::multipart::Part::stream(body),
        };
        part.file_name(self.file_name).mime_str(&content_type)
    }
}

impl ::std::fmt::Debug for UploadFile {
    fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
        f.debug_struct("UploadFile")
            .field("file_name", &self.file_name)
            .field("length", &self.length)
            .field("content_type", &self.content_type)
            .field("progress", &self.progress.is_some())
            .finish_non_exhaustive()
    }
}

/// The chunks of an [`UploadFile`] as sent: counts them, reports progress, and fails the stream
/// when it yields more or fewer bytes than the declared length (the `Content-Length` sent).
struct UploadCounted {
    chunks: UploadChunks,
    sent: u64,
    total: Option<u64>,
    progress: Option<UploadProgressFn>,
    done: bool,
}

impl ::futures_util::Stream for UploadCounted {
    type Item = ::std::result::Result<::bytes::Bytes, Box<dyn ::std::error::Error + Send + Sync>>;

    fn poll_next(
        self: ::std::pin::Pin<&mut Self>,
        cx: &mut ::std::task::Context<'_>,
    ) -> ::std::task::Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.done {
            return ::std::task::Poll::Ready(None);
        }
        let item = match ::futures_util::Stream::poll_next(this.chunks.as_mut(), cx) {
            ::std::task::Poll::Pending => return ::std::task::Poll::Pending,
            ::std::task::Poll::Ready(item) => item,
        };
        let wrong_length = |sent: u64, total: u64| -> Box<dyn ::std::error::Error + Send + Sync> {
            Box::new(::std::io::Error::new(
                ::std::io::ErrorKind::InvalidData,
                format!("upload source yielded {sent} bytes, its declared length is {total}"),
            ))
        };
        match item {
            Some(Ok(chunk)) => {
                this.sent += chunk.len() as u64;
                if let Some(total) = this.total.filter(|total| this.sent > *total) {
                    this.done = true;
                    return ::std::task::Poll::Ready(Some(Err(wrong_length(this.sent, total))));
                }
                if let Some(progress) = &this.progress {
                    progress(UploadProgress {
                        sent: this.sent,
                        total: this.total,
                    });
                }
                ::std::task::Poll::Ready(Some(Ok(chunk)))
            }
            Some(Err(e)) => {
                this.done = true;
                ::std::task::Poll::Ready(Some(Err(e)))
            }
            None => {
                this.done = true;
                match this.total.filter(|total| this.sent != *total) {
                    Some(total) => {
                        ::std::task::Poll::Ready(Some(Err(wrong_length(this.sent, total))))
                    }
                    None => ::std::task::Poll::Ready(None),
                }
            }
        }
    }
}
