//! `Execute`: an action run by the engine's workers, waited for on its operation
//! stream (retried while the engine is busy).

use std::time::Duration;

use bazel_remote_apis::build::bazel::remote::execution::v2 as reapi;
use reapi::execution_client::ExecutionClient;

use crate::client::{Client, MAX_MESSAGE, SHA256};
use crate::digest::WireDigest;
use crate::error::RemoteError;

impl Client {
    /// Executes `action` remotely and waits for its result. A status the engine or the
    /// worker reports (the worker refused the action, it could not run) is
    /// [`RemoteError::Execution`] with the message; a transport failure is not.
    pub fn execute(
        &self,
        action: WireDigest,
        skip_cache_lookup: bool,
    ) -> Result<reapi::ExecuteResponse, RemoteError> {
        use bazel_remote_apis::google::longrunning::operation::Result as Outcome;
        use prost::Message;
        let request = reapi::ExecuteRequest {
            instance_name: self.instance.clone(),
            skip_cache_lookup,
            action_digest: Some(action.to_proto()),
            execution_policy: None,
            results_cache_policy: None,
            digest_function: SHA256,
            inline_stdout: false,
            inline_stderr: false,
            inline_output_files: Vec::new(),
        };
        let execution = ExecutionClient::new(self.service()).max_decoding_message_size(MAX_MESSAGE);
        let mut delay = Duration::from_millis(50);
        let mut attempts = 0;
        let operation = loop {
            let mut execution = execution.clone();
            let request = request.clone();
            let attempt = self.block_on(async {
                let mut operations = execution
                    .execute(request)
                    .await
                    .map_err(|status| self.status("Execute", &status))?
                    .into_inner();
                loop {
                    match operations.message().await {
                        Ok(Some(operation)) if operation.done => return Ok(operation),
                        Ok(Some(_)) => continue,
                        Ok(None) => {
                            return Err(RemoteError::Unreachable {
                                endpoint: self.endpoint.clone(),
                                message: "the Execute stream ended before the action finished"
                                    .to_owned(),
                            })
                        }
                        Err(status) => return Err(self.status("Execute", &status)),
                    }
                }
            });
            match attempt {
                Err(RemoteError::Status { code, .. })
                    if code == "ResourceExhausted" && attempts < 10 =>
                {
                    attempts += 1;
                    std::thread::sleep(delay);
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
                other => break other?,
            }
        };
        match operation.result {
            Some(Outcome::Response(any)) => {
                let response =
                    reapi::ExecuteResponse::decode(any.value.as_slice()).map_err(|error| {
                        RemoteError::Status {
                            operation: "Execute",
                            endpoint: self.endpoint.clone(),
                            code: "Malformed".to_owned(),
                            message: format!("the ExecuteResponse does not decode: {error}"),
                        }
                    })?;
                if let Some(status) = response.status.as_ref().filter(|status| status.code != 0) {
                    return Err(RemoteError::Execution(format!(
                        "the remote engine at {} reports {:?}: {}",
                        self.endpoint,
                        tonic::Code::from(status.code),
                        status.message
                    )));
                }
                Ok(response)
            }
            Some(Outcome::Error(status)) => Err(RemoteError::Execution(format!(
                "the remote engine at {} reports {:?}: {}",
                self.endpoint,
                tonic::Code::from(status.code),
                status.message
            ))),
            None => Err(RemoteError::Status {
                operation: "Execute",
                endpoint: self.endpoint.clone(),
                code: "Malformed".to_owned(),
                message: "a finished operation without a result".to_owned(),
            }),
        }
    }
}
