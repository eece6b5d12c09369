//! Two tokend nodes on one database and one keys directory, as behind a load balancer: every
//! single-use rule and every revocation must hold across nodes, not only inside one process.

use std::collections::HashSet;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::*;
use crate::service_tokens::{delete_token, me_with_api_key, owner, patch_token, simple_token};

both_backends!(
    refresh_tokens_rotate_once_across_nodes,
    strict_mode_race_across_nodes_has_one_winner,
    service_token_changes_reach_every_node_at_once,
    totp_step_is_burnt_for_every_node,
    access_tokens_from_one_node_verify_on_the_other,
);

async fn refresh_tokens_rotate_once_across_nodes(b: Backend) {
    let a = spawn_app(b).await;
    let node_b = a.second_node().await;
    let ana = a.seed_user("ana@example.com", "owner").await;
    let rt0 = a.first_refresh_token(&ana).await;
    let t1: Value = node_b
        .refresh(&rt0, ana.account)
        .await
        .json()
        .await
        .unwrap();
    // A retry on the other node inside the window gets the same successor.
    let retry: Value = a.refresh(&rt0, ana.account).await.json().await.unwrap();
    assert_eq!(retry["refresh_token"], t1["refresh_token"]);
    // After the window, reuse on either node revokes the session for both.
    a.clock.advance(11);
    a.assert_refresh_fails(&rt0, ana.account, "refresh_token_reused")
        .await;
    node_b
        .assert_refresh_fails(
            t1["refresh_token"].as_str().unwrap(),
            ana.account,
            "invalid_refresh_token",
        )
        .await;
}

async fn strict_mode_race_across_nodes_has_one_winner(b: Backend) {
    let a = spawn_app_with(b, &[("TOKEND_REFRESH_GRACE_SECONDS", "0")]).await;
    let node_b = a.second_node().await;
    let ana = a.seed_user("ana@example.com", "owner").await;
    let rt0 = a.first_refresh_token(&ana).await;
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(16));
    let mut tasks = Vec::new();
    for i in 0..16 {
        let url = if i % 2 == 0 {
            a.url("/v1/auth/token")
        } else {
            node_b.url("/v1/auth/token")
        };
        let (client, barrier) = (a.client.clone(), barrier.clone());
        let body = json!({"refresh_token": rt0, "account_uuid": ana.account});
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            client.post(url).json(&body).send().await.unwrap().status()
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::OK).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::OK || *s == StatusCode::UNAUTHORIZED),
        "{statuses:?}"
    );
}

async fn service_token_changes_reach_every_node_at_once(b: Backend) {
    let a = spawn_app(b).await;
    let node_b = a.second_node().await;
    let (_, access) = owner(&a, "ana@example.com").await;
    let (id, token) = simple_token(&a, &access, "CI").await;
    assert_eq!(
        me_with_api_key(&node_b, &token).await.status(),
        StatusCode::OK
    );
    let r = patch_token(&node_b, &access, &id, json!({"active": false})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let e = assert_error(
        me_with_api_key(&a, &token).await,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    )
    .await;
    assert_eq!(e["error"]["details"]["reason"], "inactive");
    patch_token(&a, &access, &id, json!({"active": true})).await;
    assert_eq!(
        me_with_api_key(&node_b, &token).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        delete_token(&a, &access, &id).await.status(),
        StatusCode::NO_CONTENT
    );
    let e = assert_error(
        me_with_api_key(&node_b, &token).await,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    )
    .await;
    assert_eq!(e["error"]["details"]["reason"], "deleted");
}

async fn totp_step_is_burnt_for_every_node(b: Backend) {
    let a = spawn_app(b).await;
    let node_b = a.second_node().await;
    let ana = a.enrolled("ana@example.com").await;
    a.clock.advance(30);
    let on_a = a.mfa_token(&ana.seeded).await;
    let on_b = node_b.mfa_token(&ana.seeded).await;
    let code = ana.code(&a, 0);
    assert_eq!(a.mfa(&on_a, &code).await.status(), StatusCode::OK);
    let e = assert_error(
        node_b.mfa(&on_b, &code).await,
        StatusCode::UNAUTHORIZED,
        "invalid_mfa_code",
    )
    .await;
    assert_eq!(e["error"]["details"]["attempts_left"], 4);
}

async fn access_tokens_from_one_node_verify_on_the_other(b: Backend) {
    let a = spawn_app(b).await;
    let node_b = a.second_node().await;
    let ana = a.seed_user("ana@example.com", "owner").await;
    let (access, _) = a.access_token(&ana).await;
    assert_eq!(
        node_b.get_bearer("/v1/me", &access).await.status(),
        StatusCode::OK
    );
    let kids = |app: &TestApp| {
        let app_base = app.url("/.well-known/jwks.json");
        let client = app.client.clone();
        async move {
            let jwks: Value = client
                .get(app_base)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            jwks["keys"]
                .as_array()
                .unwrap()
                .iter()
                .map(|k| k["kid"].as_str().unwrap().to_string())
                .collect::<HashSet<_>>()
        }
    };
    assert_eq!(
        kids(&a).await,
        kids(&node_b).await,
        "one key set for the cluster"
    );
    // Signing out on one node ends the session on the other at once.
    let signed = a.signed_in(&ana).await;
    let t: Value = a
        .refresh(signed["refresh_token"].as_str().unwrap(), ana.account)
        .await
        .json()
        .await
        .unwrap();
    node_b
        .post(
            "/v1/auth/sign_out",
            json!({"refresh_token": t["refresh_token"]}),
        )
        .await;
    assert_error(
        a.get_bearer("/v1/me", t["access_token"].as_str().unwrap())
            .await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
}
