//! LookupEvents: the account and Region's management events from the audit log, newest first, found through the
//! audit log's lookup index (one attribute at most, a time range, pages of up to 50 events).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use keyhaven_crypto::digest::sha256;
use keyhaven_kernel::audit::lookup::{self, Attribute, FoundEvent, Position, Query};
use keyhaven_kernel::context::RequestContext;

use crate::CloudTrail;
use crate::error::{CloudTrailError, CloudTrailFault, fault};

const MAX_RESULTS: i32 = 50;

/// A LookupEvents request as the wire hands it over.
#[derive(Debug, Clone, Default)]
pub struct LookupRequest {
    /// (AttributeKey, AttributeValue) of each LookupAttribute.
    pub attributes: Vec<(String, String)>,
    pub start_time: Option<i64>,
    pub end_time: Option<i64>,
    pub event_category: Option<String>,
    pub max_results: Option<i32>,
    pub next_token: Option<String>,
}

/// A token names where the lookup goes on, bound to the request it came from: reused with other parameters it is
/// refused, as CloudTrail refuses it.
fn request_hash(request: &LookupRequest) -> String {
    let text = format!(
        "{:?}|{:?}|{:?}|{:?}",
        request.attributes, request.start_time, request.end_time, request.event_category
    );
    hex::encode(&sha256(text.as_bytes())[..8])
}

fn encode_token(position: Position, request: &LookupRequest) -> String {
    URL_SAFE_NO_PAD.encode(format!(
        "{}:{}:{}",
        position.batch,
        position.index,
        request_hash(request)
    ))
}

fn decode_token(token: &str, request: &LookupRequest) -> Result<Position, CloudTrailError> {
    let invalid = || fault(CloudTrailFault::InvalidNextToken, "Invalid next token.");
    let text = URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(invalid)?;
    let mut parts = text.splitn(3, ':');
    let (Some(batch), Some(index), Some(hash)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(invalid());
    };
    if hash != request_hash(request) {
        return Err(invalid());
    }
    Ok(Position {
        batch: batch.parse().map_err(|_| invalid())?,
        index: index.parse().map_err(|_| invalid())?,
    })
}

impl CloudTrail {
    /// The events found and the token of the next page.
    pub fn lookup_events(
        &self,
        ctx: &RequestContext,
        request: &LookupRequest,
    ) -> Result<(Vec<FoundEvent>, Option<String>), CloudTrailError> {
        self.authorize(ctx, "cloudtrail:LookupEvents", None, &[])?;
        if request.attributes.len() > 1 {
            return Err(fault(
                CloudTrailFault::InvalidLookupAttributes,
                "You can specify only one lookup attribute.",
            ));
        }
        let attribute = match request.attributes.first() {
            Some((key, value)) => {
                let attribute = Attribute::parse(key).ok_or_else(|| {
                    fault(
                        CloudTrailFault::InvalidLookupAttributes,
                        format!("{key} is not a valid lookup attribute key."),
                    )
                })?;
                Some((attribute, value.as_str()))
            }
            None => None,
        };
        // The model bounds MaxResults (1..=50); the wire refuses others before they get here.
        let limit = request.max_results.unwrap_or(MAX_RESULTS).clamp(1, MAX_RESULTS);
        let (from, to) = (request.start_time.unwrap_or(0), request.end_time.unwrap_or(i64::MAX));
        if from > to {
            return Err(fault(
                CloudTrailFault::InvalidTimeRange,
                "Start time must be before end time.",
            ));
        }
        let after = request
            .next_token
            .as_deref()
            .map(|t| decode_token(t, request))
            .transpose()?;
        match request.event_category.as_deref() {
            // Insights events: none are generated here.
            Some("insight") => return Ok((Vec::new(), None)),
            Some(other) => {
                return Err(fault(
                    CloudTrailFault::InvalidEventCategory,
                    format!("{other} is not a valid event category."),
                ));
            }
            None => {}
        }
        let query = Query {
            account: ctx.account_id(),
            region: &ctx.region,
            attribute,
            from,
            to,
            limit: usize::try_from(limit).unwrap_or(1),
            after,
        };
        let (events, next) = lookup::lookup(&*self.store, &query)?;
        Ok((events, next.map(|p| encode_token(p, request))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_goes_on_only_with_the_request_it_came_from() {
        let request = LookupRequest {
            attributes: vec![("EventName".into(), "Decrypt".into())],
            ..Default::default()
        };
        let position = Position { batch: 42, index: 7 };
        let token = encode_token(position, &request);
        assert_eq!(decode_token(&token, &request).expect("valid"), position);
        let other = LookupRequest {
            attributes: vec![("EventName".into(), "Encrypt".into())],
            ..Default::default()
        };
        assert!(matches!(
            decode_token(&token, &other),
            Err(CloudTrailError::Fault(CloudTrailFault::InvalidNextToken, _))
        ));
        assert!(decode_token("not a token!", &request).is_err());
    }
}
