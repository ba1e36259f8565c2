//! A playlist or media request's query: the LL-HLS delivery directives
//! (`_HLS_msn`, `_HLS_part`, `_HLS_skip`) and the viewer's `token`, parsed
//! once and refused whole when malformed.

/// Longest `token` value taken.
pub const MAX_TOKEN_BYTES: usize = 4096;

/// What a query asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Directives {
    /// `_HLS_msn` and, with it, `_HLS_part`: hold the playlist until it has
    /// that segment (or part).
    pub block: Option<(u64, Option<u64>)>,
    /// `token`: the viewer's token, for players that cannot set headers.
    pub token: Option<String>,
}

/// Why a query was refused (`400`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// Not `application/x-www-form-urlencoded`.
    #[error("the query is not form-encoded")]
    Malformed,
    /// A directive or the token given twice.
    #[error("{0} is given twice")]
    Repeated(&'static str),
    /// A directive whose value is not what the spec allows.
    #[error("{0} must be {1}")]
    BadValue(&'static str, &'static str),
    /// `_HLS_part` without `_HLS_msn` (RFC 8216bis §6.2.5.2).
    #[error("_HLS_part needs _HLS_msn")]
    PartWithoutMsn,
}

/// Parses `query` (the text after `?`, if any). Other parameters are
/// ignored; `_HLS_skip` is accepted and ignored (no delta updates are
/// offered, so a full playlist is always a valid answer).
pub fn parse(query: Option<&str>) -> Result<Directives, QueryError> {
    let Some(query) = query else {
        return Ok(Directives::default());
    };
    let pairs: Vec<(String, String)> =
        serde_urlencoded_pairs(query).ok_or(QueryError::Malformed)?;
    let mut msn = None;
    let mut part = None;
    let mut skip = false;
    let mut token = None;
    for (key, value) in pairs {
        match key.as_str() {
            "_HLS_msn" => set(&mut msn, "_HLS_msn", number("_HLS_msn", &value)?)?,
            "_HLS_part" => set(&mut part, "_HLS_part", number("_HLS_part", &value)?)?,
            "_HLS_skip" => {
                if skip {
                    return Err(QueryError::Repeated("_HLS_skip"));
                }
                if value != "YES" && value != "v2" {
                    return Err(QueryError::BadValue("_HLS_skip", "YES or v2"));
                }
                skip = true;
            }
            "token" => {
                if value.len() > MAX_TOKEN_BYTES {
                    return Err(QueryError::BadValue("token", "at most 4096 bytes"));
                }
                set(&mut token, "token", value)?;
            }
            _ => {}
        }
    }
    let block = match (msn, part) {
        (None, Some(_)) => return Err(QueryError::PartWithoutMsn),
        (None, None) => None,
        (Some(msn), part) => Some((msn, part)),
    };
    Ok(Directives { block, token })
}

fn set<T>(slot: &mut Option<T>, key: &'static str, value: T) -> Result<(), QueryError> {
    if slot.replace(value).is_some() {
        return Err(QueryError::Repeated(key));
    }
    Ok(())
}

/// A decimal-integer directive: digits only (no sign, no spaces), at most
/// 2^64 - 1 (RFC 8216bis §4.2).
fn number(key: &'static str, value: &str) -> Result<u64, QueryError> {
    if value.is_empty() || !value.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(QueryError::BadValue(key, "a decimal integer"));
    }
    value
        .parse()
        .map_err(|_| QueryError::BadValue(key, "below 2^64"))
}

/// The decoded pairs of a form-encoded query, or `None` if one is not
/// valid percent-encoded UTF-8.
fn serde_urlencoded_pairs(query: &str) -> Option<Vec<(String, String)>> {
    let uri = format!("/?{query}");
    let uri: axum::http::Uri = uri.parse().ok()?;
    axum::extract::Query::<Vec<(String, String)>>::try_from_uri(&uri)
        .ok()
        .map(|query| query.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_query_asks_for_nothing() {
        assert_eq!(parse(None), Ok(Directives::default()));
        assert_eq!(parse(Some("")), Ok(Directives::default()));
        assert_eq!(parse(Some("other=1&x")), Ok(Directives::default()));
    }

    #[test]
    fn directives_and_token_are_read() {
        let parsed = parse(Some("_HLS_msn=12&_HLS_part=3&token=a%20b%2Bc")).unwrap();
        assert_eq!(parsed.block, Some((12, Some(3))));
        assert_eq!(parsed.token.as_deref(), Some("a b+c"));
        assert_eq!(parse(Some("_HLS_msn=0")).unwrap().block, Some((0, None)));
        assert_eq!(
            parse(Some("_HLS_msn=18446744073709551615&_HLS_skip=YES"))
                .unwrap()
                .block,
            Some((u64::MAX, None))
        );
    }

    #[test]
    fn bad_values_are_refused() {
        for (query, error) in [
            ("_HLS_part=1", QueryError::PartWithoutMsn),
            (
                "_HLS_msn=",
                QueryError::BadValue("_HLS_msn", "a decimal integer"),
            ),
            (
                "_HLS_msn=-1",
                QueryError::BadValue("_HLS_msn", "a decimal integer"),
            ),
            (
                "_HLS_msn=+1",
                QueryError::BadValue("_HLS_msn", "a decimal integer"),
            ),
            (
                "_HLS_msn=1.5",
                QueryError::BadValue("_HLS_msn", "a decimal integer"),
            ),
            (
                "_HLS_msn=0x10",
                QueryError::BadValue("_HLS_msn", "a decimal integer"),
            ),
            (
                "_HLS_msn=18446744073709551616",
                QueryError::BadValue("_HLS_msn", "below 2^64"),
            ),
            (
                "_HLS_msn=1&_HLS_part=a",
                QueryError::BadValue("_HLS_part", "a decimal integer"),
            ),
            ("_HLS_msn=1&_HLS_msn=2", QueryError::Repeated("_HLS_msn")),
            ("token=a&token=b", QueryError::Repeated("token")),
            (
                "_HLS_msn=1&_HLS_skip=NO",
                QueryError::BadValue("_HLS_skip", "YES or v2"),
            ),
        ] {
            assert_eq!(parse(Some(query)), Err(error), "{query}");
        }
        let long = format!("token={}", "a".repeat(MAX_TOKEN_BYTES + 1));
        assert!(parse(Some(&long)).is_err());
        let longest = format!("token={}", "a".repeat(MAX_TOKEN_BYTES));
        assert!(parse(Some(&longest)).is_ok());
    }
}
