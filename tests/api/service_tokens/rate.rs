//! Per-token rate limits (issue #15) at tokend's own endpoint: the budget counts down in both
//! header families, a spent one is 429 with `Retry-After`, tokens have separate budgets, the
//! account default and ceiling and the server default apply, and bad rates are refused.

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::{create_token, me_with_api_key, owner, post_token};
use tokend::clock::Clock;

use crate::both_backends;
use crate::helpers::*;

both_backends!(
    a_budget_counts_down_and_refuses_when_spent,
    defaults_ceilings_and_bad_rates,
    two_nodes_with_redis_share_one_budget
);

fn header(r: &reqwest::Response, name: &str) -> i64 {
    r.headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name}"))
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

async fn a_budget_counts_down_and_refuses_when_spent(b: Backend) {
    let app = spawn_app(b).await;
    let (_, access) = owner(&app, "rate@example.com").await;
    let body = json!({"name": "plan", "scopes": ["photos:read"], "rate_limit": {"requests": 5, "per": "minute"}});
    let first = create_token(&app, &access, body.clone()).await;
    assert_eq!(first["rate_limit"], json!({"requests": 5, "per": "minute"}));
    let second = create_token(&app, &access, body).await;
    let token = first["token"].as_str().unwrap();
    for expected in (0..5).rev() {
        let r = me_with_api_key(&app, token).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(header(&r, "ratelimit-limit"), 5);
        assert_eq!(header(&r, "x-ratelimit-limit"), 5);
        assert_eq!(header(&r, "ratelimit-remaining"), expected);
        assert_eq!(header(&r, "x-ratelimit-remaining"), expected);
        let reset = header(&r, "ratelimit-reset");
        assert!((1..=60).contains(&reset), "{reset}");
        let epoch = header(&r, "x-ratelimit-reset");
        assert!(
            (epoch - app.clock.now() - reset).abs() <= 1,
            "epoch {epoch} vs delta {reset}"
        );
    }
    let r = me_with_api_key(&app, token).await;
    let retry = header(&r, "retry-after");
    assert!((1..=12).contains(&retry), "{retry}");
    assert_eq!(header(&r, "ratelimit-remaining"), 0);
    let body = assert_error(r, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    assert_eq!(body["error"]["details"]["retry_after"], retry);
    // Introspection reports the rate and spends nothing (the resource API that asks counts).
    let rs = app
        .state
        .add_resource_server("Rated API", None)
        .await
        .unwrap();
    for _ in 0..3 {
        let r = app
            .post_form(
                "/v1/introspect",
                Some((&rs.client_id, rs.client_secret.expose())),
                &[("token", token)],
            )
            .await;
        let answer: Value = r.json().await.unwrap();
        assert_eq!(answer["active"], true);
        assert_eq!(
            answer["rate_limit"],
            json!({"requests": 5, "per": "minute"})
        );
    }
    let r = me_with_api_key(&app, second["token"].as_str().unwrap()).await;
    assert_eq!(
        header(&r, "ratelimit-remaining"),
        4,
        "introspecting the first spent nothing of either"
    );
    // The other token of the account has its own budget.
    let r = me_with_api_key(&app, second["token"].as_str().unwrap()).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "ratelimit-remaining"), 3);
    // The rate is immutable like the other policy fields.
    let r = crate::service_tokens::patch_token(
        &app,
        &access,
        first["id"].as_str().unwrap(),
        json!({"rate_limit": {"requests": 500, "per": "minute"}}),
    )
    .await;
    let body = assert_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;
    assert_eq!(body["error"]["details"]["field"], "rate_limit");
    // User access tokens are unaffected: no budget, no headers.
    let r = app.get_bearer("/v1/me", &access).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers().get("ratelimit-limit").is_none());
    // After the wait it passes again.
    tokio::time::sleep(std::time::Duration::from_secs(
        u64::try_from(retry).unwrap(),
    ))
    .await;
    let r = me_with_api_key(&app, token).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "ratelimit-remaining"), 0);
}

async fn defaults_ceilings_and_bad_rates(b: Backend) {
    let app = spawn_app_with(
        b,
        &[("TOKEND_SERVICE_TOKEN_DEFAULT_RATE_LIMIT", "100/hour")],
    )
    .await;
    let (seeded, access) = owner(&app, "plans@example.com").await;
    // The server default applies where neither the token nor the account has a rate.
    let plain = create_token(
        &app,
        &access,
        json!({"name": "plain", "scopes": ["photos:read"]}),
    )
    .await;
    assert_eq!(plain["rate_limit"], json!({"requests": 100, "per": "hour"}));
    // An account default is copied onto tokens created without a rate; the ceiling caps them.
    app.state
        .set_account_rate_limit(
            seeded.account,
            Some("10/minute".parse().unwrap()),
            Some("1000/hour".parse().unwrap()),
        )
        .await
        .unwrap();
    let defaulted = create_token(
        &app,
        &access,
        json!({"name": "default", "scopes": ["photos:read"]}),
    )
    .await;
    assert_eq!(
        defaulted["rate_limit"],
        json!({"requests": 10, "per": "minute"})
    );
    let got: Value = app
        .get_bearer(
            &format!("/v1/service_tokens/{}", defaulted["id"].as_str().unwrap()),
            &access,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(got["rate_limit"], json!({"requests": 10, "per": "minute"}));
    let r = post_token(&app, &access, json!({"name": "greedy", "scopes": ["photos:read"], "rate_limit": {"requests": 20, "per": "second"}})).await;
    let body = assert_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;
    assert_eq!(body["error"]["details"]["field"], "rate_limit");
    // A default above the ceiling is refused too.
    assert!(app
        .state
        .set_account_rate_limit(
            seeded.account,
            Some("2000/hour".parse().unwrap()),
            Some("1000/hour".parse().unwrap())
        )
        .await
        .is_err());

    // Bad rates: each a 400 naming the field, and nothing created.
    let before: Value = app
        .get_bearer("/v1/service_tokens", &access)
        .await
        .json()
        .await
        .unwrap();
    for (rate, field) in [
        (
            json!({"requests": 0, "per": "minute"}),
            "rate_limit.requests",
        ),
        (
            json!({"requests": -5, "per": "minute"}),
            "rate_limit.requests",
        ),
        (json!({"requests": 5, "per": "fortnight"}), "rate_limit.per"),
        (
            json!({"requests": 99999999999u64, "per": "day"}),
            "rate_limit.requests",
        ),
        (
            json!({"requests": 2000000000, "per": "day"}),
            "rate_limit.requests",
        ),
        (json!({"requests": 5}), "rate_limit"),
        (json!("5/minute"), "rate_limit"),
    ] {
        let r = post_token(
            &app,
            &access,
            json!({"name": "bad", "scopes": ["photos:read"], "rate_limit": rate}),
        )
        .await;
        let body = assert_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;
        let got = body["error"]["details"]["field"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(
            got.starts_with(field) || field.starts_with(&got),
            "{rate}: field {got:?}, want {field}"
        );
    }
    let after: Value = app
        .get_bearer("/v1/service_tokens", &access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        before["service_tokens"].as_array().unwrap().len(),
        after["service_tokens"].as_array().unwrap().len()
    );
}

async fn two_nodes_with_redis_share_one_budget(b: Backend) {
    let redis = crate::operations::OwnRedis::start();
    let url = redis.url();
    let a = spawn_app_with(b, &[("TOKEND_REDIS_URL", url.as_str())]).await;
    let b2 = a.second_node().await;
    let (_, access) = owner(&a, "shared-rate@example.com").await;
    let created = create_token(&a, &access, json!({"name": "shared", "scopes": ["photos:read"], "rate_limit": {"requests": 4, "per": "minute"}})).await;
    let token = created["token"].as_str().unwrap();
    let mut ok = 0;
    for i in 0..8 {
        let node = if i % 2 == 0 { &a } else { &b2 };
        if me_with_api_key(node, token).await.status() == StatusCode::OK {
            ok += 1;
        }
    }
    assert_eq!(ok, 4, "one budget across both nodes");
}
