//! Listing pages and the pagination tokens every service hands out, opaque to callers: a page of a
//! listing kept in memory resumes at an offset (its token is the offset in decimal, as IAM's and
//! KMS's markers are); a page of a listing by key resumes after the last key it returned (its token
//! is that key in base64url).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// A page of a listing.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Present when there are more items; the caller passes it back as its marker or NextToken.
    pub next_marker: Option<String>,
}

/// A token this server did not hand out; each service words it as AWS does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidToken;

/// The token that resumes a listing after `position`.
pub fn encode_token(position: &str) -> String {
    URL_SAFE_NO_PAD.encode(position)
}

/// The position a token resumes after.
pub fn decode_token(token: &str) -> Result<String, InvalidToken> {
    URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or(InvalidToken)
}

/// Up to `size` (at least one) of `items` from the offset the token names; an offset past the end
/// is an empty last page.
pub fn by_offset<T: Clone>(items: &[T], size: usize, token: Option<&str>) -> Result<Page<T>, InvalidToken> {
    let start = match token {
        None => 0,
        Some(token) => token.parse::<usize>().map_err(|_| InvalidToken)?,
    };
    let start = start.min(items.len());
    let end = start.saturating_add(size.max(1)).min(items.len());
    Ok(Page {
        items: items[start..end].to_vec(),
        next_marker: (end < items.len()).then(|| end.to_string()),
    })
}

/// Up to `size` (at least one) of `items`, sorted by key, after the key the token names. A page
/// stays correct when items before the position are added or removed between calls.
pub fn by_key<T: Clone>(items: &[(String, T)], size: usize, token: Option<&str>) -> Result<Page<T>, InvalidToken> {
    let start = match token {
        None => 0,
        Some(token) => {
            let after = decode_token(token)?;
            items
                .iter()
                .position(|(key, _)| *key == after)
                .map_or(items.len(), |i| i + 1)
        }
    };
    let rest = &items[start.min(items.len())..];
    let size = size.max(1);
    Ok(Page {
        items: rest.iter().take(size).map(|(_, item)| item.clone()).collect(),
        next_marker: (rest.len() > size).then(|| encode_token(&rest[size - 1].0)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_pages_walk_the_whole_listing() {
        let items: Vec<u32> = (0..5).collect();
        let first = by_offset(&items, 2, None).expect("page");
        assert_eq!(first.items, vec![0, 1]);
        let second = by_offset(&items, 2, first.next_marker.as_deref()).expect("page");
        let third = by_offset(&items, 2, second.next_marker.as_deref()).expect("page");
        assert_eq!(
            (second.items, third.items, third.next_marker),
            (vec![2, 3], vec![4], None)
        );
    }

    #[test]
    fn keyed_pages_resume_after_the_last_key() {
        let items: Vec<(String, u32)> = (0..3).map(|i| (format!("k{i}"), i)).collect();
        let first = by_key(&items, 2, None).expect("page");
        assert_eq!(first.items, vec![0, 1]);
        let second = by_key(&items, 2, first.next_marker.as_deref()).expect("page");
        assert_eq!((second.items, second.next_marker), (vec![2], None));
    }

    #[test]
    fn tokens_not_handed_out_are_refused() {
        for token in ["***", "bm90LWEtbnVtYmVy"] {
            assert_eq!(by_offset(&[1], 1, Some(token)), Err(InvalidToken), "{token}");
        }
        assert_eq!(by_key::<u8>(&[], 1, Some("%%")), Err(InvalidToken));
    }
}
