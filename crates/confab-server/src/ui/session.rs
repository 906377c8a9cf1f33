//! Dashboard sessions. Signing in with an API key (read scope) sets a cookie holding the key's
//! hash and an expiry, signed with the server's session secret (HMAC-SHA-256). Every page
//! resolves the hash again through the key cache, so a revoked key ends its sessions within
//! [`crate::auth::CACHE_TTL`]. The key itself never leaves the sign-in request; its hash is no
//! use to anyone calling the API. Sign-out only clears the cookie: sessions are stateless.

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Router, routing::get, routing::post};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use confab_core::auth::{Caller, Scope, hash_key};
use confab_core::buckets::{TimeZone, parse_tz};
use confab_core::time::{Millis, now_millis};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::{UiError, render};
use crate::AppState;
use crate::auth::caller_for_hash;

pub const SESSION_COOKIE: &str = "confab_session";
/// Set by the dashboard's script to the browser's IANA zone; pages show times in it.
pub const ZONE_COOKIE: &str = "confab_tz";
/// How long a session lasts after signing in.
pub const SESSION_TTL_MS: Millis = 12 * 3600 * 1000;

type HmacSha256 = Hmac<Sha256>;

/// The secret sessions are signed with. Servers behind one load balancer share it
/// (`--session-secret`); otherwise each start picks a random one and signs everyone out.
#[derive(Clone)]
pub struct SessionKey([u8; 32]);

/// Never printed: a config dump must not carry what forges sessions.
impl std::fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionKey(..)")
    }
}

impl SessionKey {
    pub fn random() -> SessionKey {
        SessionKey(rand::random())
    }

    /// A key derived from an operator's secret of any length.
    pub fn from_secret(secret: &str) -> SessionKey {
        SessionKey(Sha256::digest(secret.as_bytes()).into())
    }

    fn mac(&self) -> HmacSha256 {
        HmacSha256::new_from_slice(&self.0).expect("HMAC takes keys of any length")
    }

    /// The cookie value for a key's hash, valid until `expires`.
    pub fn sign(&self, key_hash: &[u8; 32], expires: Millis) -> String {
        let mut payload = key_hash.to_vec();
        payload.extend_from_slice(&expires.to_be_bytes());
        let mut mac = self.mac();
        mac.update(&payload);
        let tag = mac.finalize().into_bytes();
        format!("{}.{}", URL_SAFE_NO_PAD.encode(&payload), URL_SAFE_NO_PAD.encode(tag))
    }

    /// The key hash a cookie value carries, if this server signed it and it has not expired.
    pub fn verify(&self, value: &str, now: Millis) -> Option<[u8; 32]> {
        let (payload, tag) = value.split_once('.')?;
        let payload = URL_SAFE_NO_PAD.decode(payload).ok()?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        let mut mac = self.mac();
        mac.update(&payload);
        mac.verify_slice(&tag).ok()?;
        let (hash, expires) = payload.split_at_checked(32)?;
        let expires = Millis::from_be_bytes(expires.try_into().ok()?);
        (expires > now).then(|| hash.try_into().expect("32 bytes"))
    }
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/signin", get(sign_in_form).post(sign_in))
        .route("/signout", post(sign_out))
}

/// A cookie's value from the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The signed-in person looking at a page: the key's team and bots, and their time zone.
pub struct Viewer {
    pub caller: Caller,
    pub tz: TimeZone,
    pub zone_name: String,
}

impl Viewer {
    /// The bots this viewer may see, checked before anything is read.
    pub fn bot(&self, bot_id: &str) -> Result<(), UiError> {
        use crate::auth::Allow;
        Ok(self.caller.bot(Scope::Read, bot_id)?)
    }
}

/// Where a page goes when nobody is signed in: the sign-in form, then back.
pub struct SignInFirst(String);

impl IntoResponse for SignInFirst {
    fn into_response(self) -> Response {
        let target: String = form_urlencoded::byte_serialize(self.0.as_bytes()).collect();
        Redirect::to(&format!("/signin?next={target}")).into_response()
    }
}

/// Only a path on this server is a place to return to (`//host` or `https://…` would send a
/// fresh sign-in elsewhere).
fn safe_next(next: Option<&str>) -> &str {
    match next {
        // Browsers drop tabs and newlines from URLs (`/\t/evil` becomes `//evil`): only
        // printable ASCII passes.
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.contains('\\')
                && n.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            n
        }
        _ => "/",
    }
}

/// Whether a form post comes from this server's own pages. `SameSite=Strict` keeps the session
/// cookie off cross-site posts, but signing someone in (as the poster's team) or out needs no
/// cookie: the browser's `Sec-Fetch-Site` and `Origin` say where the form was.
fn same_origin(headers: &HeaderMap) -> bool {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if text("sec-fetch-site").is_some_and(|s| s == "cross-site" || s == "same-site") {
        return false;
    }
    match (text("origin"), text("host")) {
        (Some(origin), Some(host)) => origin
            .split_once("://")
            .is_some_and(|(_, authority)| authority.eq_ignore_ascii_case(host)),
        (Some(_), None) => false,
        (None, _) => true,
    }
}

fn cross_site() -> UiError {
    UiError(crate::ApiError::Forbidden("this form was posted from another site".into()))
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Viewer, Response> {
        let here = parts.uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
        let hash = cookie(&parts.headers, SESSION_COOKIE)
            .and_then(|v| state.sessions.verify(v, now_millis()))
            .ok_or_else(|| SignInFirst(here.clone()).into_response())?;
        let caller = caller_for_hash(state, hash)
            .await
            .map_err(|e| UiError::from(e).into_response())?
            .filter(|c| c.scopes.allows(Scope::Read))
            .ok_or_else(|| SignInFirst(here).into_response())?;
        let (tz, zone_name) = cookie(&parts.headers, ZONE_COOKIE)
            .and_then(|raw| {
                // The script stores the zone URI-encoded (`Europe%2FWarsaw`).
                let pair = format!("z={raw}");
                let (_, name) = form_urlencoded::parse(pair.as_bytes()).next()?;
                parse_tz("tz", &name).ok().map(|tz| (tz, name.into_owned()))
            })
            .unwrap_or((TimeZone::UTC, "UTC".to_owned()));
        Ok(Viewer { caller, tz, zone_name })
    }
}

#[derive(askama::Template)]
#[template(path = "signin.html")]
struct SignInPage<'a> {
    next: &'a str,
    error: Option<&'a str>,
}

#[derive(Deserialize)]
struct NextQuery {
    next: Option<String>,
}

async fn sign_in_form(
    axum::extract::Query(q): axum::extract::Query<NextQuery>,
) -> Result<Response, UiError> {
    let page = SignInPage { next: safe_next(q.next.as_deref()), error: None };
    Ok(render(&page)?.into_response())
}

#[derive(Deserialize)]
struct SignInForm {
    key: String,
    next: Option<String>,
}

async fn sign_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> Result<Response, UiError> {
    if !same_origin(&headers) {
        return Err(cross_site());
    }
    let next = safe_next(form.next.as_deref());
    let key = form.key.trim();
    let hash = hash_key(key);
    let caller = match key.is_empty() {
        true => None,
        false => caller_for_hash(&state, hash).await?,
    };
    let refused = match &caller {
        None => Some("That key is not a valid API key. Create one with `confab keys create`."),
        Some(c) if !c.scopes.allows(Scope::Read) => {
            Some("That key lacks the read scope the dashboard needs.")
        }
        Some(_) => None,
    };
    if let Some(error) = refused {
        let page = render(&SignInPage { next, error: Some(error) })?;
        return Ok((StatusCode::UNAUTHORIZED, page).into_response());
    }
    let value = state.sessions.sign(&hash, now_millis() + SESSION_TTL_MS);
    let cookie = format!(
        "{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
        SESSION_TTL_MS / 1000,
        secure_suffix(&headers)
    );
    let mut response = Redirect::to(next).into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, HeaderValue::from_str(&cookie).expect("cookie is ASCII"));
    Ok(response)
}

/// `Secure` when the request reached a TLS-terminating proxy first: over plain HTTP (a laptop)
/// a secure cookie would never be sent back.
fn secure_suffix(headers: &HeaderMap) -> &'static str {
    let https = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"));
    if https { "; Secure" } else { "" }
}

async fn sign_out(headers: HeaderMap) -> Result<Response, UiError> {
    if !same_origin(&headers) {
        return Err(cross_site());
    }
    let cookie = format!(
        "{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{}",
        secure_suffix(&headers)
    );
    let mut response = Redirect::to("/signin").into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, HeaderValue::from_str(&cookie).expect("cookie is ASCII"));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_values_verify_until_they_expire() {
        let key = SessionKey::random();
        let hash = [7u8; 32];
        let v = key.sign(&hash, 2_000);
        assert_eq!(key.verify(&v, 1_999), Some(hash));
        assert_eq!(key.verify(&v, 2_000), None, "expired");
        assert_eq!(SessionKey::random().verify(&v, 0), None, "another server's secret");
        let (payload, tag) = v.split_once('.').unwrap();
        let mut bytes = URL_SAFE_NO_PAD.decode(payload).unwrap();
        bytes[39] ^= 1; // a later expiry
        let forged = format!("{}.{tag}", URL_SAFE_NO_PAD.encode(&bytes));
        assert_eq!(key.verify(&forged, 0), None, "altered payload");
        assert_eq!(key.verify("junk", 0), None);
    }

    #[test]
    fn only_this_servers_pages_may_post_forms() {
        let h = |pairs: &[(&'static str, &'static str)]| {
            let mut m = HeaderMap::new();
            for (k, v) in pairs {
                m.insert(*k, HeaderValue::from_static(v));
            }
            m
        };
        assert!(same_origin(&h(&[])), "curl and old browsers send neither");
        assert!(same_origin(&h(&[
            ("origin", "http://127.0.0.1:8080"),
            ("host", "127.0.0.1:8080")
        ])));
        assert!(same_origin(&h(&[("sec-fetch-site", "same-origin")])));
        assert!(!same_origin(&h(&[
            ("origin", "https://evil.example"),
            ("host", "127.0.0.1:8080")
        ])));
        assert!(!same_origin(&h(&[("sec-fetch-site", "cross-site")])));
    }

    #[test]
    fn only_local_paths_are_returned_to() {
        assert_eq!(safe_next(Some("/bots/a?x=1")), "/bots/a?x=1");
        for bad in ["//evil.example", "https://evil.example", "/\\evil", "evil", "/\t/evil.example"]
        {
            assert_eq!(safe_next(Some(bad)), "/");
        }
    }
}
