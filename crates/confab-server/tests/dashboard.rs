//! The dashboard's pages, as HTML over a real server: signing in and out, the security headers,
//! each page's content for seeded data, escaping of hostile messages, team scoping and the
//! empty states. The browser tests (`dashboard_browser.rs`) click through the same pages.

mod common;

use common::dashboard::{BOT, XSS_IMG, XSS_SCRIPT, seed, sign_in};
use common::{TestApp, spawn_app};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;

struct Page {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

async fn page(app: &TestApp, cookie: &str, path: &str) -> Page {
    let resp = client().get(app.url(path)).header("cookie", cookie).send().await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    Page { status, headers, body: resp.text().await.unwrap() }
}

async fn signed_in() -> (TestApp, String) {
    let app = spawn_app().await;
    seed(&app).await;
    let key = app.key(app.team_id, &["read"], None).await;
    let cookie = sign_in(&app, &key).await;
    (app, cookie)
}

/// The `href` of the first link whose text or attributes contain `marker`, unescaped.
fn href_near(body: &str, marker: &str) -> String {
    let at = body.find(marker).unwrap_or_else(|| panic!("{marker} not in page"));
    let start = body[..at].rfind("href=\"").expect("a link before the marker") + 6;
    let end = start + body[start..].find('"').unwrap();
    unescape(&body[start..end])
}

/// HTML character references (`&#38;`, `&amp;`) back to text.
fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let end = rest[at..].find(';').map(|e| at + e).expect("a terminated reference");
        let name = &rest[at + 1..end];
        out.push(match name {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            n => char::from_u32(n.trim_start_matches('#').parse().expect(n)).unwrap(),
        });
        rest = &rest[end + 1..];
    }
    out + rest
}

#[tokio::test]
async fn signing_in_sets_a_strict_session_cookie_and_signing_out_clears_it() {
    let app = spawn_app().await;
    seed(&app).await;
    let c = client();
    // Nobody signed in: every page sends to the sign-in form, and back afterwards.
    let resp = c.get(app.url(&format!("/bots/{BOT}/conversations?q=refund"))).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let to = resp.headers()["location"].to_str().unwrap();
    assert_eq!(to, "/signin?next=%2Fbots%2Fsupport-bot%2Fconversations%3Fq%3Drefund");
    let form = c.get(app.url(to)).send().await.unwrap().text().await.unwrap();
    assert!(unescape(&form).contains(r#"value="/bots/support-bot/conversations?q=refund""#));

    // A wrong key, and a key without the read scope, are refused on the form.
    for (key, says) in [
        ("cfb_not_a_key".to_owned(), "not a valid API key"),
        (app.key(app.team_id, &["ingest"], None).await, "lacks the read scope"),
    ] {
        let resp = c.post(app.url("/signin")).form(&[("key", key.as_str())]).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
        assert!(resp.headers().get("set-cookie").is_none());
        assert!(resp.text().await.unwrap().contains(says));
    }

    let key = app.key(app.team_id, &["read"], None).await;
    let resp = c
        .post(app.url("/signin"))
        .form(&[("key", key.as_str()), ("next", "/bots/support-bot/flows")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(resp.headers()["location"], "/bots/support-bot/flows");
    let set = resp.headers()["set-cookie"].to_str().unwrap().to_owned();
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"] {
        assert!(set.contains(attr), "{set}");
    }
    assert!(!set.contains(&key), "the key itself never goes into the cookie");
    assert!(!set.contains("Secure"), "plain HTTP: a Secure cookie would never come back");
    let cookie = set.split(';').next().unwrap().to_owned();
    assert_eq!(page(&app, &cookie, "/").await.status, StatusCode::OK);

    // Behind a TLS proxy the cookie is Secure; a next outside this server goes home instead.
    let resp = c
        .post(app.url("/signin"))
        .header("x-forwarded-proto", "https")
        .form(&[("key", key.as_str()), ("next", "//evil.example/")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["location"], "/");
    assert!(resp.headers()["set-cookie"].to_str().unwrap().contains("; Secure"));

    // A forged or altered cookie is nobody.
    let mut forged = cookie.clone();
    forged.insert(forged.len() - 3, 'A');
    assert_eq!(page(&app, &forged, "/").await.status, StatusCode::SEE_OTHER);

    // Signing out clears the cookie.
    let resp = c.post(app.url("/signout")).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let cleared = resp.headers()["set-cookie"].to_str().unwrap();
    assert!(cleared.starts_with("confab_session=;") && cleared.contains("Max-Age=0"), "{cleared}");
}

#[tokio::test]
async fn a_revoked_key_ends_its_sessions() {
    let (app, _) = signed_in().await;
    let key = app.key(app.team_id, &["read"], None).await;
    let cookie = sign_in(&app, &key).await;
    assert_eq!(page(&app, &cookie, "/").await.status, StatusCode::OK);
    let keys = app.store.list_keys(Some(app.team_id)).await.unwrap();
    let id = keys.iter().map(|k| k.id).max().unwrap();
    let (status, _) = app.delete(&app.admin_key, &format!("/v1/keys/{id}")).await;
    assert!(status.is_success(), "{status}");
    assert_eq!(page(&app, &cookie, "/").await.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn pages_carry_security_headers() {
    let (app, cookie) = signed_in().await;
    for path in ["/signin", "/", "/bots/support-bot", "/bots/support-bot/conversations"] {
        let p = page(&app, &cookie, path).await;
        assert_eq!(p.status, StatusCode::OK, "{path}");
        let csp = p.headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"), "{csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert_eq!(p.headers["x-content-type-options"], "nosniff");
        assert_eq!(p.headers["cache-control"], "no-store");
        assert!(p.headers["content-type"].to_str().unwrap().starts_with("text/html"));
        assert!(!p.body.contains("<script>"), "no inline script on {path}");
    }
    let css = page(&app, &cookie, "/assets/app.css").await;
    assert!(css.headers["content-type"].to_str().unwrap().starts_with("text/css"));
    assert!(css.body.contains(".bubble"));
}

#[tokio::test]
async fn the_overview_shows_totals_charts_and_the_period_before() {
    let (app, cookie) = signed_in().await;
    let p = page(&app, &cookie, "/bots/support-bot?tz=Europe/Warsaw").await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    let b = &p.body;
    // This week: three conversations (the fourth started ten days ago), ten messages, three
    // users; the previous week had one conversation: +200%.
    let kpi = |label: &str| {
        let at = b.find(&format!(r#"<span class="label">{label}</span>"#)).unwrap();
        let v = &b[at..];
        let start = v.find(r#"<span class="value">"#).unwrap() + 20;
        v[start..start + v[start..].find('<').unwrap()].to_owned()
    };
    assert_eq!(kpi("Conversations"), "3");
    assert_eq!(kpi("Messages"), "10");
    assert_eq!(kpi("Unique users"), "3");
    assert!(b.contains(r#"<span class="delta up">+200%</span>"#), "{b}");
    // c-refund reached the goal step `done`: one of three.
    assert_eq!(kpi("Completion"), "33.3%");
    // Charts: SVG with per-bar values on hover and the previous period dashed.
    assert_eq!(b.matches("<svg").count(), 3);
    assert!(b.contains("Completion rate per day"), "{b}");
    assert!(b.contains("Conversations per day by channel"));
    assert!(b.contains(" · web: 2 of 3 conversations</title>"), "{b}");
    assert!(b.contains(" · sms: 1 of 3 conversations</title>"));
    assert!(b.contains(r#"<polyline class="prev""#));
    assert!(b.contains("Messages per hour"));
    assert!(b.contains("Europe/Warsaw"));

    // A range with nothing in it says what to do.
    let p = page(&app, &cookie, "/bots/support-bot?from=2020-01-01&to=2020-01-07").await;
    assert!(p.body.contains("No conversations started in this range"));
    assert!(p.body.contains("curl -H"));
    // Bad input is a clear error naming the field.
    let p = page(&app, &cookie, "/bots/support-bot?from=2026-13-01").await;
    assert_eq!(p.status, StatusCode::BAD_REQUEST);
    assert!(p.body.contains("from: "), "{}", p.body);
    let p = page(&app, &cookie, "/bots/support-bot?from=2020-01-01&to=2026-01-01").await;
    assert_eq!(p.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_list_filters_searches_and_pages() {
    let (app, cookie) = signed_in().await;
    let all = page(&app, &cookie, "/bots/support-bot/conversations").await;
    for id in ["c-refund", "c-hours", "c-xss", "c-old"] {
        assert!(all.body.contains(&format!(">{id}</a>")), "{id}");
    }
    let found = page(&app, &cookie, "/bots/support-bot/conversations?q=refund").await;
    assert!(found.body.contains(">c-refund</a>") && !found.body.contains(">c-hours</a>"));
    assert!(found.body.contains(r#"value="refund""#), "the form keeps the search");
    let sms = page(&app, &cookie, "/bots/support-bot/conversations?channel_type=sms&q=").await;
    assert!(sms.body.contains(">c-xss</a>") && !sms.body.contains(">c-refund</a>"));

    // Cursor paging: two pages of two, then nothing more.
    let first = page(&app, &cookie, "/bots/support-bot/conversations?limit=2").await;
    let next = href_near(&first.body, r#"id="next-page""#);
    assert!(next.contains("cursor="), "{next}");
    let second = page(&app, &cookie, &format!("/bots/support-bot/conversations{next}")).await;
    assert!(second.body.contains(">c-old</a>"), "oldest last: {}", second.body);
    assert!(!second.body.contains(r#"id="next-page""#));
    assert!(!second.body.contains(">c-xss</a>"), "first page's rows are not repeated");

    let bad = page(&app, &cookie, "/bots/support-bot/conversations?status=done").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("status: must be active or ended"));
    let none = page(&app, &cookie, "/bots/support-bot/conversations?q=zebra").await;
    assert!(none.body.contains("No conversation matches these filters"));
}

#[tokio::test]
async fn the_transcript_shows_bubbles_steps_and_datapoints() {
    let (app, cookie) = signed_in().await;
    let p = page(&app, &cookie, "/bots/support-bot/conversations/c-refund").await;
    assert_eq!(p.status, StatusCode::OK);
    let b = &p.body;
    assert_eq!(b.matches(r#"<article class="bubble user"#).count(), 2);
    assert_eq!(b.matches(r#"<article class="bubble bot"#).count(), 3);
    assert!(b.contains(r#"<span class="step" title="dialogue step">ask_email · message</span>"#));
    // The email, read from message 4 (highlighted, linked), still provisional.
    assert!(b.contains(r#"<span class="value">ana@example.com</span>"#), "{b}");
    assert!(b.contains(r#"<span class="dp-status provisional">provisional</span>"#));
    // Why: it answers the bot's question for it, said in words.
    let why = r#"<span class="evidence" title="why extraction chose this value">asked</span>"#;
    assert!(b.contains(why), "{b}");
    assert!(b.contains(r##"<a href="#m4" class="source-link">"##));
    assert!(b.contains(r#"<article class="bubble user source" id="m4">"#));
    // The evidence: the words it was read from, quoted in the panel and marked in the bubble,
    // which message (number, role, time) and the method.
    assert!(b.contains(r#"<q class="said">ana@example.com</q>"#), "{b}");
    let said = r#"It is <mark class="said" title="email was read from these words">ana@example.com</mark></div>"#;
    assert!(b.contains(said), "{b}");
    let from = href_near(b, "from message 4 · user · ");
    assert_eq!(from, "#m4");
    assert!(b.contains(">rule</span>"), "{b}");
    assert!(b.contains(r#"<th>phone</th>"#) && b.contains(r#"<td class="missing">"#));
    // Metadata on demand; the viewer's zone from the cookie the script sets.
    assert!(b.contains("<summary>metadata</summary>") && b.contains("A-1001"));
    let warsaw = format!("{cookie}; confab_tz=Asia%2FTokyo");
    let p = page(&app, &warsaw, "/bots/support-bot/conversations/c-refund").await;
    assert!(p.body.contains("Asia/Tokyo"));

    let missing = page(&app, &cookie, "/bots/support-bot/conversations/nope").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(missing.body.contains("conversation not found"));
}

#[tokio::test]
async fn hostile_markup_in_messages_is_shown_as_text() {
    let (app, cookie) = signed_in().await;
    for path in [
        "/bots/support-bot/conversations/c-xss",
        "/bots/support-bot/conversations?channel_type=sms",
    ] {
        let b = page(&app, &cookie, path).await.body;
        assert!(!b.contains(XSS_SCRIPT) && !b.contains(XSS_IMG), "{path}: {b}");
        assert!(!b.contains("<img"), "{path}");
        assert!(unescape(&b).contains(XSS_SCRIPT), "shown as text on {path}");
    }
}

#[tokio::test]
async fn flows_draw_steps_that_lead_to_their_conversations() {
    let (app, cookie) = signed_in().await;
    let p = page(&app, &cookie, "/bots/support-bot/flows").await;
    assert_eq!(p.status, StatusCode::OK);
    let b = &p.body;
    assert!(b.contains(r#"<svg class="flow""#));
    for step in ["START", "greeting", "ask_email", "done"] {
        assert!(b.contains(&format!(">{step} <tspan")), "{step}: {b}");
    }
    assert!(b.contains("greeting → ask_email: 2 conversations</title>"), "{b}");
    // Each box: conversations and entries, the share that completed (the bot has a goal step,
    // `done`), drop-offs (both linked to their conversations) and exits.
    assert!(b.contains(">2 conv. · in 2<title>2 conversations were at ask_email; it was"), "{b}");
    assert!(b.contains(">→ ask_email 2<title>"), "{b}");
    let dropped = href_near(
        b,
        ">↓ 1 dropped (50%)<title>1 of the 2 conversations at ask_email ended here without",
    );
    assert!(dropped.contains("status=ended&completed=false&last_step=ask_email"), "{dropped}");
    let done = href_near(
        b,
        ">✓ 50% completed<title>1 of the 2 conversations at ask_email reached a goal step",
    );
    assert!(done.contains("completed=true&step=ask_email"), "{done}");
    let list = page(&app, &cookie, &done).await;
    assert!(list.body.contains(">c-refund</a>") && !list.body.contains(">c-hours</a>"));
    // The list's form keeps the outcome chosen.
    assert!(list.body.contains(r#"<option value="true" selected>reached a goal</option>"#));
    // START's box is the whole flow's: two conversations with steps, one completed.
    assert!(b.contains(">2 conversations<title>"), "{b}");
    assert!(b.contains(">✓ 50% completed<title>1 of the 2 conversations at START"), "{b}");
    // No line from every step to a far DROPOFF box: the boxes carry it.
    assert!(!b.contains(">DROPOFF <tspan"), "{b}");
    // Following a node lists the conversations that passed through its step.
    let link = href_near(b, ">done <tspan");
    assert!(link.contains("step=done"), "{link}");
    let list = page(&app, &cookie, &link).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    assert!(list.body.contains(">c-refund</a>") && !list.body.contains(">c-hours</a>"));
    assert!(list.body.contains("<code>step=done</code>"), "the narrowing is said");

    let empty = page(&app, &cookie, "/bots/support-bot/flows?from=2020-01-01&to=2020-01-02").await;
    assert!(empty.body.contains("No steps in this range"));
}

#[tokio::test]
async fn the_datapoints_table_has_fill_rates_and_a_csv() {
    let (app, cookie) = signed_in().await;
    let p = page(&app, &cookie, "/bots/support-bot/datapoints").await;
    assert_eq!(p.status, StatusCode::OK);
    let b = &p.body;
    assert!(b.contains("<th>email</th>") && b.contains("<th>phone</th>"));
    assert!(b.contains(r#"<td title="1 of 4">25%</td>"#), "{b}");
    assert!(b.contains(r#"<td title="0 of 4">0%</td>"#));
    assert!(b.contains("<td>ana@example.com</td>"));
    let sms = page(&app, &cookie, "/bots/support-bot/datapoints?channel_type=sms").await;
    assert!(sms.body.contains(r#"<td title="0 of 1">0%</td>"#));

    let csv_link = href_near(b, r#"id="csv""#);
    let csv = page(&app, &cookie, &csv_link).await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(csv.headers["content-type"].to_str().unwrap().starts_with("text/csv"));
    let mut lines = csv.body.lines();
    assert_eq!(
        lines.next().unwrap(),
        "conversation_id,user_id,channel_type,status,started_at,ended_at,email,phone"
    );
    assert_eq!(csv.body.lines().count(), 5);
    assert!(csv.body.contains("c-refund,u-ana,web,active,"));
}

#[tokio::test]
async fn pages_show_only_the_keys_team_and_bots() {
    let (app, _) = signed_in().await;
    let (other_team, other_admin) = app.new_team("other").await;
    let other = app.key(other_team, &["read"], None).await;
    let cookie = sign_in(&app, &other).await;
    let home = page(&app, &cookie, "/").await;
    assert!(!home.body.contains(BOT));
    assert!(home.body.contains("No conversations yet") && home.body.contains("curl -H"));
    for path in [
        "/bots/support-bot",
        "/bots/support-bot/conversations",
        "/bots/support-bot/conversations/c-refund",
        "/bots/support-bot/flows",
        "/bots/support-bot/datapoints",
        "/bots/support-bot/datapoints.csv",
    ] {
        let p = page(&app, &cookie, path).await;
        assert_eq!(p.status, StatusCode::NOT_FOUND, "{path}: {}", p.body);
        assert!(!p.body.contains("ana@example.com"));
    }
    // A key limited to other bots sees neither this bot nor its name.
    let _ = other_admin;
    let limited = app.key(app.team_id, &["read"], Some(vec!["sales-bot"])).await;
    let cookie = sign_in(&app, &limited).await;
    assert!(!page(&app, &cookie, "/").await.body.contains(BOT));
    assert_eq!(page(&app, &cookie, "/bots/support-bot").await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn empty_bots_say_what_to_do() {
    let app = spawn_app().await;
    app.ingest(
        "quiet-bot",
        vec![serde_json::json!({"conversation_id": "c", "role": "user", "content": "hi"})],
    )
    .await;
    let key = app.key(app.team_id, &["read"], None).await;
    let cookie = sign_in(&app, &key).await;
    let dp = page(&app, &cookie, "/bots/quiet-bot/datapoints").await;
    assert!(dp.body.contains("no datapoint schema yet") && dp.body.contains("curl -X PUT"));
    let flows = page(&app, &cookie, "/bots/quiet-bot/flows").await;
    assert!(flows.body.contains("No steps in this range"));
    let t = page(&app, &cookie, "/bots/quiet-bot/conversations/c").await;
    assert!(t.body.contains("no datapoint schema"));
}

#[tokio::test]
async fn forms_posted_from_other_sites_are_refused() {
    let app = spawn_app().await;
    let key = app.key(app.team_id, &["read"], None).await;
    for (name, value) in [("origin", "https://evil.example"), ("sec-fetch-site", "cross-site")] {
        let resp = client()
            .post(app.url("/signin"))
            .header(name, value)
            .form(&[("key", key.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::FORBIDDEN, "{name}");
        assert!(resp.headers().get("set-cookie").is_none());
    }
    let resp = client()
        .post(app.url("/signin"))
        .header("origin", app.base.clone())
        .form(&[("key", key.as_str()), ("next", "/\t/evil.example")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER, "the page's own origin");
    assert_eq!(resp.headers()["location"], "/", "a next that becomes //host is not followed");
}

#[tokio::test]
async fn ids_with_spaces_and_slashes_link_to_themselves() {
    let app = spawn_app().await;
    let conv = "order 12/b+c";
    app.ingest(
        "help desk",
        vec![serde_json::json!({"conversation_id": conv, "role": "user", "content": "hi"})],
    )
    .await;
    let key = app.key(app.team_id, &["read"], None).await;
    let cookie = sign_in(&app, &key).await;
    let home = page(&app, &cookie, "/").await;
    let bot = href_near(&home.body, "<strong>help desk</strong>");
    assert_eq!(bot, "/bots/help%20desk");
    let list = page(&app, &cookie, &format!("{bot}/conversations")).await;
    assert_eq!(list.status, StatusCode::OK);
    let link = href_near(&list.body, "order 12/b+c</a>");
    assert_eq!(link, "/bots/help%20desk/conversations/order%2012%2Fb%2Bc");
    let t = page(&app, &cookie, &link).await;
    assert_eq!(t.status, StatusCode::OK, "{}", t.body);
    assert!(t.body.contains("order 12/b+c"));
}
