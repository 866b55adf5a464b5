//! How talking to a remote engine fails.
//!
//! Every variant names the endpoint or the digest involved. [`RemoteError::is_environment`]
//! separates the machine's faults (an unreachable or misconfigured server, rejected
//! credentials: exit 3) from a build that failed on a worker (exit 1).

use imgbuild_store::StoreError;

/// Why a remote operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// The endpoint is not a URL we can use.
    #[error("`{endpoint}` is not a remote endpoint: {reason}")]
    Endpoint {
        /// What was given (credentials never appear: they travel in headers).
        endpoint: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The server could not be reached.
    #[error("cannot reach the remote engine at {endpoint}: {message}")]
    Unreachable {
        /// The endpoint.
        endpoint: String,
        /// The transport's explanation.
        message: String,
    },
    /// The server refused our credentials.
    #[error("the remote engine at {endpoint} refused the credentials ({code}): {message}")]
    Credentials {
        /// The endpoint.
        endpoint: String,
        /// `UNAUTHENTICATED` or `PERMISSION_DENIED`.
        code: String,
        /// The server's message.
        message: String,
    },
    /// The server does not hash with SHA-256.
    #[error(
        "the remote engine at {endpoint} offers the digest functions [{offered}]; imgbuild speaks SHA256"
    )]
    DigestFunction {
        /// The endpoint.
        endpoint: String,
        /// What it offers.
        offered: String,
    },
    /// `--remote-exec` against a server that does not execute.
    #[error("the remote engine at {endpoint} does not offer remote execution")]
    ExecutionDisabled {
        /// The endpoint.
        endpoint: String,
    },
    /// A call failed with a gRPC status.
    #[error("{operation} at {endpoint} failed ({code}): {message}")]
    Status {
        /// The call (`FindMissingBlobs`, `Execute`, ...).
        operation: &'static str,
        /// The endpoint.
        endpoint: String,
        /// The status code's name.
        code: String,
        /// The server's message.
        message: String,
    },
    /// A blob the remote named is not in its CAS.
    #[error("blob {digest} is missing from the remote CAS")]
    Missing {
        /// `sha256/size`.
        digest: String,
    },
    /// A blob's bytes do not match its digest.
    #[error("blob {digest} from the remote does not match its digest ({found})")]
    Corrupt {
        /// `sha256/size` (or the BLAKE3 name it should have).
        digest: String,
        /// What the bytes hash or measure to.
        found: String,
    },
    /// An output description is malformed.
    #[error("remote output description {digest} is malformed: {reason}")]
    Manifest {
        /// Its `sha256/size`.
        digest: String,
        /// What is wrong.
        reason: String,
    },
    /// The remote ran the action and it failed, or refused it.
    #[error("{0}")]
    Execution(String),
    /// A worker could not build for want of something on its machine.
    #[error("{0}")]
    WorkerMachine(String),
    /// The local store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl RemoteError {
    /// True when the machine or the server is at fault (exit 3), not the build.
    pub fn is_environment(&self) -> bool {
        !matches!(self, RemoteError::Execution(_))
    }

    /// True when the remote's data was wrong or absent: the caller builds locally.
    pub fn is_bad_data(&self) -> bool {
        matches!(
            self,
            RemoteError::Missing { .. }
                | RemoteError::Corrupt { .. }
                | RemoteError::Manifest { .. }
        )
    }
}

/// A gRPC status as a [`RemoteError`].
pub(crate) fn from_status(
    operation: &'static str,
    endpoint: &str,
    status: &tonic::Status,
) -> RemoteError {
    use tonic::Code;
    let message = status.message().to_owned();
    match status.code() {
        Code::Unauthenticated | Code::PermissionDenied => RemoteError::Credentials {
            endpoint: endpoint.to_owned(),
            code: format!("{:?}", status.code()),
            message,
        },
        Code::Unavailable => RemoteError::Unreachable {
            endpoint: endpoint.to_owned(),
            message: if message.is_empty() {
                "unavailable".to_owned()
            } else {
                message
            },
        },
        code => RemoteError::Status {
            operation,
            endpoint: endpoint.to_owned(),
            code: format!("{code:?}"),
            message,
        },
    }
}
