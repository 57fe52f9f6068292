//! A test "browser" for the sign-in pages: an HTTP client that follows no redirect, and the
//! small readers a test needs to follow the forms (hidden fields, cookies, redirect queries) and
//! to build a PKCE challenge.

use base64::Engine as _;

/// A client that follows no redirect and keeps no cookies (tests pass them by hand).
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// The value of the hidden form field `name`.
pub fn hidden(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page.find(&marker).expect("hidden field") + marker.len();
    let end = start + page[start..].find('"').expect("end of value");
    page[start..end].to_owned()
}

/// The `name=value` of the cookie `name` a response sets.
pub fn set_cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or_default().to_owned())
        .find(|pair| pair.starts_with(&format!("{name}=")))
}

/// The query pairs of a redirect's `Location`.
pub fn query_of(location: &str) -> Vec<(String, String)> {
    reqwest::Url::parse(location)
        .expect("location")
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// The S256 PKCE challenge of `verifier`.
pub fn challenge(verifier: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref())
}
