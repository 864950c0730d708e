//! Fuzzes awsQuery form decoding (`query::Params`) into the generated IAM and STS requests, their `<ErrorResponse>` and audit parameters.
#![no_main]

use keyhaven_api::generated::{iam, sts};
use keyhaven_api::query::{DecodeFailure, Params, encode_error};
use keyhaven_api::shapes::DecodeError;
use libfuzzer_sys::fuzz_target;

/// Decodes `params` as `action`'s input, as `server.rs` does: the request's JSON for the audit log, or the failure.
type Decode = fn(&str, &Params) -> Result<(&'static str, serde_json::Value), DecodeError>;

/// (signing name, API version, XML namespace, operations, decoder)
const SERVICES: [(&str, &str, &str, &[&str], Decode); 2] = [
    (
        "iam",
        iam::API_VERSION,
        iam::XML_NAMESPACE,
        iam::OPERATIONS,
        |action, params| {
            let request = iam::Request::decode(action, params)?;
            Ok((
                request.operation_name(),
                serde_json::to_value(&request).expect("audit JSON"),
            ))
        },
    ),
    (
        "sts",
        sts::API_VERSION,
        sts::XML_NAMESPACE,
        sts::OPERATIONS,
        |action, params| {
            let request = sts::Request::decode(action, params)?;
            Ok((
                request.operation_name(),
                serde_json::to_value(&request).expect("audit JSON"),
            ))
        },
    ),
];

fuzz_target!(|data: &[u8]| {
    let Some((selector, form)) = data.split_first() else {
        return;
    };
    let total: usize = SERVICES.iter().map(|s| s.3.len()).sum();
    let mut index = usize::from(*selector) % total;
    for (service, version, namespace, operations, decode) in SERVICES {
        if index >= operations.len() {
            index -= operations.len();
            continue;
        }
        // The form as sent, with its own Action and Version (or none)...
        let raw = Params::parse(form);
        check(service, namespace, decode, raw.get("Action").unwrap_or_default(), &raw);
        // ...and steered to the chosen operation at the model's version: a repeated name keeps its first value.
        let operation = operations[index];
        let mut steered = format!("Action={operation}&Version={version}&").into_bytes();
        steered.extend_from_slice(form);
        check(service, namespace, decode, operation, &Params::parse(&steered));
        return;
    }
});

fn check(service: &str, namespace: &str, decode: Decode, action: &str, params: &Params) {
    match decode(action, params) {
        Ok((decoded, members)) => {
            assert_eq!(decoded, action, "{service}: decoded as another operation");
            let _ = keyhaven_api::audit_params::request_parameters(service, action, members);
        }
        Err(error) => {
            let failure = DecodeFailure::new(&error, params);
            let xml = failure.encode(namespace, "request-id");
            // Messages quote the input: escaped, they add no markup and no character XML 1.0 forbids.
            let skeleton = encode_error(namespace, failure.code, "m", true, "request-id");
            let markup = |s: &str| s.matches(['<', '>']).count();
            if !failure.message.is_empty() {
                assert_eq!(markup(&xml), markup(&skeleton), "{xml}");
            }
            assert!(xml.chars().all(xml_char), "{xml:?}");
        }
    }
}

fn xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}
