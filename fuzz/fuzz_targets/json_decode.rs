//! Fuzzes the generated awsJson decoders and validators of every JSON service (KMS, SSM, Secrets Manager) and the audit redaction of raw bodies.
#![no_main]

use keyhaven_api::generated::{kms, secretsmanager, ssm};
use keyhaven_api::shapes::DecodeError;
use keyhaven_api::{audit_params, error::ApiError};
use libfuzzer_sys::fuzz_target;

/// Decodes a body as the operation's input, as `server.rs` does, returning the decoded operation's name.
type Decode = fn(&str, &[u8]) -> Result<&'static str, ApiError>;

/// (signing name, operations, decoder with the service's error mapping)
const SERVICES: [(&str, &[&str], Decode); 3] = [
    ("kms", kms::OPERATIONS, |op, body| {
        kms::Request::decode(op, body)
            .map(|r| r.operation_name())
            .map_err(keyhaven_api::kms::decode_error)
    }),
    ("ssm", ssm::OPERATIONS, |op, body| {
        ssm::Request::decode(op, body)
            .map(|r| r.operation_name())
            .map_err(|e: DecodeError| keyhaven_api::ssm::decode_error(e, op))
    }),
    ("secretsmanager", secretsmanager::OPERATIONS, |op, body| {
        secretsmanager::Request::decode(op, body)
            .map(|r| r.operation_name())
            .map_err(keyhaven_api::kms::decode_error)
    }),
];

fuzz_target!(|data: &[u8]| {
    let Some((selector, body)) = data.split_first() else {
        return;
    };
    let total: usize = SERVICES.iter().map(|(_, operations, _)| operations.len()).sum();
    let mut index = usize::from(*selector) % total;
    for (service, operations, decode) in SERVICES {
        if index >= operations.len() {
            index -= operations.len();
            continue;
        }
        let operation = operations[index];
        // What reaches the audit log is computed from the raw body before it is decoded.
        let _ = audit_params::json_request_parameters(service, operation, body);
        match decode(operation, body) {
            Ok(decoded) => assert_eq!(decoded, operation, "{service}: decoded as another operation"),
            // Every failure is the client's, answered with an AWS error code (messages quote the input).
            Err(error) => assert!(!error.code.is_empty() && error.status.is_client_error(), "{error:?}"),
        }
        return;
    }
});
