//! COMPRESS=DEFLATE (RFC 4978): after `OK`, both directions of the connection are one raw
//! DEFLATE stream each. What matters most on a slow link: headers and text shrink three- to
//! fivefold.
//!
//! Each reply is sync-flushed as the connection flushes it, so the client can read every
//! response as soon as it is sent; the decoder hands the command reader whatever the client
//! has flushed, and the reader's own bounds (line and literal sizes) apply to the inflated
//! bytes, so a small compressed message cannot make the server hold a large one.

use async_compression::tokio::bufread::DeflateDecoder;
use async_compression::tokio::write::DeflateEncoder;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, BufReader, ReadBuf, ReadHalf, WriteHalf};

pub struct Deflated<T> {
    reader: DeflateDecoder<BufReader<ReadHalf<T>>>,
    writer: DeflateEncoder<WriteHalf<T>>,
}

impl<T: AsyncRead + AsyncWrite> Deflated<T> {
    pub fn new(io: T) -> Deflated<T> {
        let (read, write) = tokio::io::split(io);
        let mut reader = DeflateDecoder::new(BufReader::new(read));
        // One client's stream is one DEFLATE stream for the life of the connection.
        reader.multiple_members(false);
        Deflated {
            reader,
            writer: DeflateEncoder::new(write),
        }
    }
}

impl<T: AsyncRead + AsyncWrite> AsyncRead for Deflated<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.reader).poll_read(cx, buf)
    }
}

impl<T: AsyncRead + AsyncWrite> AsyncWrite for Deflated<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.writer).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.writer).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.writer).poll_shutdown(cx)
    }
}
