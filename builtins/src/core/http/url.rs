//! URLs: redacting and splitting off credentials, basic authorization, following a
//! `Location`, reading a `Content-Range`.

use super::agent;
use super::failure::Failure;
use super::transfer::ureq_message;

/// `url` safe to show: a userinfo part (`user:token@`) becomes `***@`. Works on any
/// text; what does not look like `scheme://authority` is returned unchanged.
pub fn redact(url: &str) -> String {
    match split_userinfo(url) {
        (plain, Some(_)) => {
            let (scheme, rest) = plain.split_once("://").unwrap_or(("", &plain));
            format!("{scheme}://***@{rest}")
        }
        (plain, None) => plain,
    }
}

/// `url` without its userinfo, and the userinfo (still percent-encoded), if any.
pub(super) fn split_userinfo(url: &str) -> (String, Option<String>) {
    let Some((scheme, rest)) = url.split_once("://") else {
        return (url.to_owned(), None);
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rfind('@') {
        Some(at) => (
            format!("{scheme}://{}{path}", &authority[at + 1..]),
            Some(authority[..at].to_owned()),
        ),
        None => (url.to_owned(), None),
    }
}

/// The `Authorization` header for a URL's userinfo (`user:password`, percent-encoded).
pub(super) fn basic_authorization(userinfo: &str) -> String {
    use base64::Engine as _;
    let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
    let credentials = [
        percent_decode(user),
        b":".to_vec(),
        percent_decode(password),
    ]
    .concat();
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(credentials)
    )
}

pub(super) fn percent_decode(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let escaped = (bytes[index] == b'%')
            .then(|| text.get(index + 1..index + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                decoded.push(byte);
                index += 3;
            }
            None => {
                decoded.push(bytes[index]);
                index += 1;
            }
        }
    }
    decoded
}

/// Resolves a redirect from `current` to `location`: the absolute target, and whether
/// it has the same origin (scheme, host, port). Only http and https are followed.
pub(super) fn follow(current: &str, location: &str) -> Result<(String, bool), Failure> {
    let refuse = |reason: String| {
        let mut shown = redact(location);
        if shown.chars().count() > 80 {
            shown = shown.chars().take(77).chain("...".chars()).collect();
        }
        Failure::Redirect {
            location: shown,
            reason,
        }
    };
    let base = agent()
        .get(current)
        .request_url()
        .map_err(|error| Failure::InvalidUrl(ureq_message(&error)))?;
    let next = base
        .as_url()
        .join(location)
        .map_err(|error| refuse(format!("not a URL ({error})")))?;
    if !matches!(next.scheme(), "http" | "https") {
        return Err(refuse(format!(
            "only http and https redirects are followed, not `{}:`",
            next.scheme()
        )));
    }
    if next.host_str().is_none_or(str::is_empty) {
        return Err(refuse("no host".to_owned()));
    }
    let same_origin = next.origin() == base.as_url().origin();
    Ok((next.to_string(), same_origin))
}

/// The first byte of a `Content-Range: bytes START-END/TOTAL` header.
pub(super) fn content_range_start(header: &str) -> Option<u64> {
    let range = header.trim().strip_prefix("bytes")?.trim_start();
    range.split('-').next()?.trim().parse().ok()
}
