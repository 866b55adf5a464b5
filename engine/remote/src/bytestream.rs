//! ByteStream: blobs too large for a batch, streamed in 1 MiB messages both ways, and
//! verified against their digest as they arrive.

use std::io::{Read, Write};

use bazel_remote_apis::google::bytestream::{
    byte_stream_client::ByteStreamClient, ReadRequest, WriteRequest,
};

use crate::client::{Client, MAX_MESSAGE};
use crate::digest::{WireDigest, WireHasher};
use crate::error::RemoteError;

/// Bytes per ByteStream message.
const STREAM_CHUNK: usize = 1 << 20;

impl Client {
    /// Uploads one blob by ByteStream, reading it from `source` (run on its own thread
    /// so a multi-gigabyte image streams without sitting in memory).
    pub fn upload_stream(
        &self,
        digest: WireDigest,
        source: Box<dyn Read + Send>,
    ) -> Result<(), RemoteError> {
        let resource = format!(
            "{}uploads/{}/blobs/{}",
            self.prefix(),
            upload_id(),
            digest.to_text()
        );
        let (sender, receiver) = tokio::sync::mpsc::channel::<WriteRequest>(4);
        let reader = std::thread::spawn(move || -> std::io::Result<()> {
            let mut source = source;
            let mut offset = 0i64;
            let mut first = true;
            loop {
                let mut data = vec![0u8; STREAM_CHUNK];
                let mut filled = 0;
                while filled < data.len() {
                    let read = source.read(&mut data[filled..])?;
                    if read == 0 {
                        break;
                    }
                    filled += read;
                }
                data.truncate(filled);
                let finish_write = (filled as u64) < STREAM_CHUNK as u64
                    || offset as u64 + filled as u64 >= digest.size;
                let request = WriteRequest {
                    resource_name: if first {
                        resource.clone()
                    } else {
                        String::new()
                    },
                    write_offset: offset,
                    finish_write,
                    data,
                };
                first = false;
                offset += filled as i64;
                if sender.blocking_send(request).is_err() || finish_write {
                    return Ok(());
                }
            }
        });
        let mut stream = ByteStreamClient::new(self.service());
        let result =
            self.block_on(stream.write(tokio_stream::wrappers::ReceiverStream::new(receiver)));
        let read = reader.join();
        result.map_err(|status| self.status("ByteStream.Write", &status))?;
        match read {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(RemoteError::Execution(format!(
                "cannot read blob {digest} to upload it: {error}"
            ))),
            Err(_) => Err(RemoteError::Execution(format!(
                "reading blob {digest} to upload it panicked"
            ))),
        }
    }

    /// Reads one blob by ByteStream into `sink`, verifying its digest at the end (the
    /// caller discards what it wrote when this fails).
    pub fn read_stream(&self, digest: WireDigest, sink: &mut dyn Write) -> Result<(), RemoteError> {
        let request = ReadRequest {
            resource_name: format!("{}blobs/{}", self.prefix(), digest.to_text()),
            read_offset: 0,
            read_limit: 0,
        };
        let mut stream =
            ByteStreamClient::new(self.service()).max_decoding_message_size(MAX_MESSAGE);
        let mut hasher = WireHasher::default();
        self.block_on(async {
            let mut responses = match stream.read(request).await {
                Ok(responses) => responses.into_inner(),
                Err(status) if status.code() == tonic::Code::NotFound => {
                    return Err(RemoteError::Missing {
                        digest: digest.to_text(),
                    })
                }
                Err(status) => return Err(self.status("ByteStream.Read", &status)),
            };
            loop {
                match responses.message().await {
                    Ok(Some(response)) => {
                        hasher.update(&response.data);
                        if hasher.size() > digest.size {
                            break;
                        }
                        sink.write_all(&response.data).map_err(|error| {
                            RemoteError::Execution(format!("cannot keep blob {digest}: {error}"))
                        })?;
                    }
                    Ok(None) => break,
                    Err(status) if status.code() == tonic::Code::NotFound => {
                        return Err(RemoteError::Missing {
                            digest: digest.to_text(),
                        })
                    }
                    Err(status) => return Err(self.status("ByteStream.Read", &status)),
                }
            }
            Ok(())
        })?;
        let found = hasher.finish();
        if found != digest {
            return Err(RemoteError::Corrupt {
                digest: digest.to_text(),
                found: found.to_text(),
            });
        }
        Ok(())
    }
}

/// A name for one upload, unique enough among concurrent ones (not part of anything
/// hashed or stored).
fn upload_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |time| time.as_nanos());
    let seed = format!("{}-{nanos}-{count}", std::process::id());
    let hash = blake3::hash(seed.as_bytes());
    let hex = hex::encode(&hash.as_bytes()[..16]);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}
