//! A SAML 2.0 `Response` as AssumeRoleWithSAML takes it: parsed without DTDs or entities, its XML
//! Signature verified against the identity provider's metadata certificates, and its assertion's
//! claims read only from the element the signature covers.
//!
//! Signature rules (XML Signature Core, SAML Core §5): the `ds:Signature` is a direct child of the
//! signed element (the `Assertion`, or the `Response` around it), with exactly one `Reference`
//! whose URI is `#` + that element's `ID`; every `ID` in the document is unique (so a second,
//! unsigned copy cannot be slipped in as the one claims are read from); transforms are the
//! enveloped-signature transform and Exclusive Canonicalization (with its `InclusiveNamespaces`
//! prefix list); the digest and RSA PKCS #1 v1.5 check go through `keyhaven_crypto::xmldsig`. The
//! `KeyInfo` a response carries is never trusted: only the provider's metadata keys verify.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bergshamra_c14n::{C14nMode, canonicalize_doc};
use bergshamra_xml::NodeSet;
use keyhaven_crypto::xmldsig::{self, DsigHash};
use uppsala::{Document, NodeId};

use crate::error::IamError;
use crate::iam::certificates::ParsedCertificate;
use crate::iam::saml::parse_datetime;

const PROTOCOL_NS: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
const ASSERTION_NS: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
const DSIG_NS: &str = "http://www.w3.org/2000/09/xmldsig#";
const EXC_C14N_NS: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
const EXC_C14N_WITH_COMMENTS: &str = "http://www.w3.org/2001/10/xml-exc-c14n#WithComments";
const ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";
const SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
const BEARER: &str = "urn:oasis:names:tc:SAML:2.0:cm:bearer";
/// Deep enough for any SAML response; a bound on what a hostile document can make the parser do.
const MAX_DEPTH: u32 = 64;

/// What a verified assertion says, for STS to check and use.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SamlClaims {
    pub issuer: String,
    pub issue_instant: Option<f64>,
    /// The `NameID` and its `Format`.
    pub subject: String,
    pub subject_format: Option<String>,
    /// The bearer `SubjectConfirmationData`'s `Recipient` and `NotOnOrAfter`.
    pub recipient: Option<String>,
    pub confirmation_not_on_or_after: Option<f64>,
    pub not_before: Option<f64>,
    pub not_on_or_after: Option<f64>,
    /// Every `Audience` of the `AudienceRestriction`s (none when there is no restriction).
    pub audiences: Vec<String>,
    pub session_not_on_or_after: Option<f64>,
    /// Attributes by `Name`, values in document order.
    pub attributes: Vec<(String, Vec<String>)>,
}

impl SamlClaims {
    /// The values of the attribute named `name`, if the assertion has it.
    pub fn attribute(&self, name: &str) -> Option<&[String]> {
        self.attributes
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, values)| values.as_slice())
    }
}

/// Why a response was refused. The text never quotes the response.
fn invalid(message: &str) -> IamError {
    IamError::InvalidIdentityToken(message.into())
}

fn signature_invalid() -> IamError {
    invalid("Response signature invalid")
}

/// Verifies a base64 `SAMLResponse` against `certificates` and reads its assertion.
pub fn verify(encoded: &str, certificates: &[ParsedCertificate]) -> Result<SamlClaims, IamError> {
    let malformed = || invalid("Invalid SAML response: it is not a base64-encoded SAML 2.0 Response document.");
    let compact: String = encoded.split_whitespace().collect();
    let bytes = STANDARD.decode(compact).map_err(|_| malformed())?;
    let text = String::from_utf8(bytes).map_err(|_| malformed())?;
    let doc = uppsala::Parser::new()
        .with_forbid_dtd(true)
        .with_forbid_entities(true)
        .with_max_depth(MAX_DEPTH)
        .parse(&text)
        .map_err(|_| malformed())?;
    let response = doc
        .document_element()
        .filter(|id| is(&doc, *id, PROTOCOL_NS, "Response"))
        .ok_or_else(malformed)?;
    let status = doc
        .first_child_element_by_name_ns(response, PROTOCOL_NS, "Status")
        .and_then(|s| doc.first_child_element_by_name_ns(s, PROTOCOL_NS, "StatusCode"))
        .and_then(|c| doc.get_attribute(c, "Value"));
    if status != Some(SUCCESS) {
        return Err(IamError::IdpRejectedClaim(
            "The identity provider reported that authentication failed.".into(),
        ));
    }
    check_unique_ids(&doc)?;
    let assertions = doc.child_elements_by_name_ns(response, ASSERTION_NS, "Assertion");
    let [assertion] = assertions.as_slice() else {
        return Err(invalid(
            "Invalid SAML response: it must hold exactly one unencrypted Assertion.",
        ));
    };
    let signed = [*assertion, response]
        .into_iter()
        .any(|element| signed_by(&doc, element, certificates));
    if !signed {
        return Err(signature_invalid());
    }
    read_claims(&doc, *assertion)
}

fn is(doc: &Document<'_>, id: NodeId, ns: &str, local: &str) -> bool {
    doc.element(id).is_some_and(|e| e.name.matches(Some(ns), local))
}

/// Refuses a document in which two elements carry the same `ID` (the root of signature wrapping).
fn check_unique_ids(doc: &Document<'_>) -> Result<(), IamError> {
    let mut seen: HashMap<&str, ()> = HashMap::new();
    let mut stack = vec![doc.root()];
    while let Some(id) = stack.pop() {
        if let Some(value) = doc.element(id).and_then(|e| e.get_attribute("ID"))
            && seen.insert(value, ()).is_some()
        {
            return Err(signature_invalid());
        }
        stack.extend(doc.children(id));
    }
    Ok(())
}

/// Whether `element` carries, as a direct child, a signature over itself that one of
/// `certificates` made.
fn signed_by(doc: &Document<'_>, element: NodeId, certificates: &[ParsedCertificate]) -> bool {
    let Some(signature) = doc.first_child_element_by_name_ns(element, DSIG_NS, "Signature") else {
        return false;
    };
    check_signature(doc, element, signature, certificates).unwrap_or(false)
}

/// The exclusive canonicalization an algorithm URI names and the `InclusiveNamespaces` prefix list
/// under `method` (a `Transform` or `CanonicalizationMethod`).
fn exclusive_mode(doc: &Document<'_>, method: NodeId) -> Option<(C14nMode, Vec<String>)> {
    let mode = match doc.get_attribute(method, "Algorithm")? {
        EXC_C14N => C14nMode::Exclusive,
        EXC_C14N_WITH_COMMENTS => C14nMode::ExclusiveWithComments,
        _ => return None,
    };
    let prefixes = doc
        .first_child_element_by_name_ns(method, EXC_C14N_NS, "InclusiveNamespaces")
        .and_then(|n| doc.get_attribute(n, "PrefixList"))
        .map(|list| list.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default();
    Some((mode, prefixes))
}

fn base64_text(doc: &Document<'_>, id: NodeId) -> Option<Vec<u8>> {
    let text: String = doc.text_content_deep(id).split_whitespace().collect();
    STANDARD.decode(text).ok()
}

/// Checks one signature; `None` for anything malformed or unsupported (which verifies nothing).
fn check_signature(
    doc: &Document<'_>,
    element: NodeId,
    signature: NodeId,
    certificates: &[ParsedCertificate],
) -> Option<bool> {
    let element_id = doc.get_attribute(element, "ID")?;
    let signed_info = doc.first_child_element_by_name_ns(signature, DSIG_NS, "SignedInfo")?;
    let (info_mode, info_prefixes) = exclusive_mode(
        doc,
        doc.first_child_element_by_name_ns(signed_info, DSIG_NS, "CanonicalizationMethod")?,
    )?;
    let hash = DsigHash::from_rsa_signature_uri(doc.get_attribute(
        doc.first_child_element_by_name_ns(signed_info, DSIG_NS, "SignatureMethod")?,
        "Algorithm",
    )?)?;
    let references = doc.child_elements_by_name_ns(signed_info, DSIG_NS, "Reference");
    let [reference] = references.as_slice() else {
        return None;
    };
    if doc.get_attribute(*reference, "URI")? != format!("#{element_id}") {
        return None;
    }
    let mut enveloped = false;
    let mut canonical = None;
    if let Some(transforms) = doc.first_child_element_by_name_ns(*reference, DSIG_NS, "Transforms") {
        for transform in doc.child_elements_by_name_ns(transforms, DSIG_NS, "Transform") {
            if doc.get_attribute(transform, "Algorithm") == Some(ENVELOPED) {
                enveloped = true;
            } else {
                canonical = Some(exclusive_mode(doc, transform)?);
            }
        }
    }
    let (mode, prefixes) = canonical?;
    // A same-document `#id` reference leaves comments out, whatever the canonicalization says.
    let mut selected = NodeSet::tree_without_comments(element, doc);
    if enveloped {
        selected = selected.subtract(&NodeSet::tree_with_comments(signature, doc));
    }
    let referenced = canonicalize_doc(doc, mode, Some(&selected), &prefixes).ok()?;
    let digest_hash = DsigHash::from_digest_uri(doc.get_attribute(
        doc.first_child_element_by_name_ns(*reference, DSIG_NS, "DigestMethod")?,
        "Algorithm",
    )?)?;
    let expected = base64_text(
        doc,
        doc.first_child_element_by_name_ns(*reference, DSIG_NS, "DigestValue")?,
    )?;
    if digest_hash.digest(&referenced) != expected {
        return Some(false);
    }
    let info_set = match info_mode {
        C14nMode::ExclusiveWithComments => NodeSet::tree_with_comments(signed_info, doc),
        _ => NodeSet::tree_without_comments(signed_info, doc),
    };
    let info_bytes = canonicalize_doc(doc, info_mode, Some(&info_set), &info_prefixes).ok()?;
    let value = base64_text(
        doc,
        doc.first_child_element_by_name_ns(signature, DSIG_NS, "SignatureValue")?,
    )?;
    Some(
        certificates
            .iter()
            .any(|c| xmldsig::verify_rsa(&c.public_key, hash, &info_bytes, &value)),
    )
}

fn child(doc: &Document<'_>, parent: NodeId, local: &str) -> Option<NodeId> {
    doc.first_child_element_by_name_ns(parent, ASSERTION_NS, local)
}

fn text(doc: &Document<'_>, id: NodeId) -> String {
    doc.text_content_deep(id).trim().to_string()
}

/// A time attribute: absent is none, present but not an `xs:dateTime` is a malformed response.
fn time_attribute(doc: &Document<'_>, id: NodeId, name: &str) -> Result<Option<f64>, IamError> {
    match doc.get_attribute(id, name) {
        None => Ok(None),
        Some(value) => parse_datetime(value)
            .map(Some)
            .ok_or_else(|| invalid("Invalid SAML response: a time is not an xs:dateTime.")),
    }
}

fn read_claims(doc: &Document<'_>, assertion: NodeId) -> Result<SamlClaims, IamError> {
    let mut claims = SamlClaims {
        issuer: child(doc, assertion, "Issuer")
            .map(|i| text(doc, i))
            .unwrap_or_default(),
        issue_instant: time_attribute(doc, assertion, "IssueInstant")?,
        ..Default::default()
    };
    if let Some(subject) = child(doc, assertion, "Subject") {
        if let Some(name_id) = child(doc, subject, "NameID") {
            claims.subject = text(doc, name_id);
            claims.subject_format = doc.get_attribute(name_id, "Format").map(str::to_string);
        }
        for confirmation in doc.child_elements_by_name_ns(subject, ASSERTION_NS, "SubjectConfirmation") {
            if doc.get_attribute(confirmation, "Method") != Some(BEARER) {
                continue;
            }
            if let Some(data) = child(doc, confirmation, "SubjectConfirmationData") {
                claims.recipient = doc.get_attribute(data, "Recipient").map(str::to_string);
                claims.confirmation_not_on_or_after = time_attribute(doc, data, "NotOnOrAfter")?;
            }
        }
    }
    if let Some(conditions) = child(doc, assertion, "Conditions") {
        claims.not_before = time_attribute(doc, conditions, "NotBefore")?;
        claims.not_on_or_after = time_attribute(doc, conditions, "NotOnOrAfter")?;
        for restriction in doc.child_elements_by_name_ns(conditions, ASSERTION_NS, "AudienceRestriction") {
            for audience in doc.child_elements_by_name_ns(restriction, ASSERTION_NS, "Audience") {
                claims.audiences.push(text(doc, audience));
            }
        }
    }
    if let Some(statement) = child(doc, assertion, "AuthnStatement") {
        claims.session_not_on_or_after = time_attribute(doc, statement, "SessionNotOnOrAfter")?;
    }
    for statement in doc.child_elements_by_name_ns(assertion, ASSERTION_NS, "AttributeStatement") {
        for attribute in doc.child_elements_by_name_ns(statement, ASSERTION_NS, "Attribute") {
            let Some(name) = doc.get_attribute(attribute, "Name") else {
                continue;
            };
            let values = doc
                .child_elements_by_name_ns(attribute, ASSERTION_NS, "AttributeValue")
                .into_iter()
                .map(|v| text(doc, v))
                .collect();
            claims.attributes.push((name.to_string(), values));
        }
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_that_are_not_saml_are_refused_without_quoting_them() {
        let cases = [
            "not base64 !!",
            &STANDARD.encode("<notxml"),
            &STANDARD.encode("<a xmlns='x'/>"),
            &STANDARD.encode("<!DOCTYPE r [<!ENTITY e 'x'>]><r>&e;</r>"),
        ];
        for case in cases {
            let err = verify(case, &[]).expect_err(case);
            assert!(matches!(err, IamError::InvalidIdentityToken(_)), "{case}: {err:?}");
            assert!(!err.to_string().contains("notxml"));
        }
    }

    #[test]
    fn a_failed_status_is_the_identity_providers_refusal() {
        let xml = format!(
            r#"<samlp:Response xmlns:samlp="{PROTOCOL_NS}" ID="r"><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Requester"/></samlp:Status></samlp:Response>"#
        );
        assert!(matches!(
            verify(&STANDARD.encode(xml), &[]),
            Err(IamError::IdpRejectedClaim(_))
        ));
    }

    #[test]
    fn duplicate_ids_and_unsigned_assertions_are_refused() {
        let assertion = format!(
            r#"<saml:Assertion xmlns:saml="{ASSERTION_NS}" ID="a"><saml:Issuer>x</saml:Issuer></saml:Assertion>"#
        );
        let response = |body: &str| {
            format!(
                r#"<samlp:Response xmlns:samlp="{PROTOCOL_NS}" ID="r"><samlp:Status><samlp:StatusCode Value="{SUCCESS}"/></samlp:Status>{body}</samlp:Response>"#
            )
        };
        let unsigned = response(&assertion);
        assert_eq!(verify(&STANDARD.encode(&unsigned), &[]), Err(signature_invalid()));
        let twice = response(&format!("{assertion}<x ID=\"a\"/>"));
        assert_eq!(verify(&STANDARD.encode(twice), &[]), Err(signature_invalid()));
    }
}
