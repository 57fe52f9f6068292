//! The identify stage as the fronts call it: what a request presented, to a principal or to
//! the refusal whose text goes into the audit record.

use super::*;

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

async fn refused(identity: &Identity, presented: Presented<'_>) -> IdentifyError {
    identity.identify(&presented).await.unwrap_err()
}

#[tokio::test]
async fn each_refusal_has_its_own_error_and_audit_text() {
    let f = fixture("ES256");
    let token = f.identity.mint("reporter", None).unwrap().access_token;
    let header = bearer(&token);

    // The scheme is case-insensitive; blanks around the token do not matter.
    for header in [header.clone(), format!("bearer  {token} ")] {
        let presented = Presented {
            authorization: Some(&header),
            ..Presented::default()
        };
        let principal = f.identity.identify(&presented).await.unwrap();
        assert_eq!(principal.agent, "reporter", "{presented:?}");
    }

    // A token in the query string is refused even beside a valid header.
    let err = refused(
        &f.identity,
        Presented {
            authorization: Some(&header),
            token_in_query: true,
            certificate: None,
        },
    )
    .await;
    assert_eq!(err, IdentifyError::QueryToken);
    assert_eq!(err.to_string(), "token in query string refused");

    let err = refused(&f.identity, Presented::default()).await;
    assert_eq!(err, IdentifyError::HeaderMissing);
    assert_eq!(err.to_string(), "no authorization header");

    let basic = basic("reporter", SECRET);
    for header in [basic.as_str(), "Bearer", "Bearer a b", token.as_str()] {
        let err = refused(
            &f.identity,
            Presented {
                authorization: Some(header),
                ..Presented::default()
            },
        )
        .await;
        assert_eq!(err, IdentifyError::Scheme, "{header}");
        assert_eq!(err.to_string(), "authorization scheme is not bearer");
    }

    let err = refused(
        &f.identity,
        Presented {
            authorization: Some("Bearer not-a-token"),
            ..Presented::default()
        },
    )
    .await;
    let expected = f.identity.verify("not-a-token").unwrap_err();
    assert_eq!(err, IdentifyError::Token(expected.clone()));
    assert_eq!(
        err.to_string(),
        expected.to_string(),
        "the verify error's text"
    );
}

#[tokio::test]
async fn a_certificate_bound_token_needs_its_very_certificate() {
    let f = fixture("ES256");
    let mut claims = good_claims(&f.identity);
    claims["cnf"] = json!({ "x5t#S256": "bound-thumbprint" });
    let bound = bearer(&sign_raw(&f.identity, &good_header(&f.identity), &claims));
    for certificate in [None, Some("another-thumbprint")] {
        let err = refused(
            &f.identity,
            Presented {
                authorization: Some(&bound),
                token_in_query: false,
                certificate,
            },
        )
        .await;
        assert_eq!(err, IdentifyError::CertificateMismatch, "{certificate:?}");
        assert_eq!(
            err.to_string(),
            "certificate-bound token presented without its certificate"
        );
    }
    let principal = f
        .identity
        .identify(&Presented {
            authorization: Some(&bound),
            token_in_query: false,
            certificate: Some("bound-thumbprint"),
        })
        .await
        .unwrap();
    assert_eq!(
        principal.certificate_thumbprint.as_deref(),
        Some("bound-thumbprint")
    );

    // An unbound token does not care which certificate the connection presented.
    let unbound = bearer(&f.identity.mint("reporter", None).unwrap().access_token);
    assert!(
        f.identity
            .identify(&Presented {
                authorization: Some(&unbound),
                token_in_query: false,
                certificate: Some("any-thumbprint"),
            })
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn identify_picks_up_a_revocation_made_by_another_process() {
    let r = revocable().await;
    let id = &r.identity;
    let token = id.mint("reporter", None).unwrap().access_token;
    let header = bearer(&token);
    let presented = Presented {
        authorization: Some(&header),
        ..Presented::default()
    };
    let jti = id.identify(&presented).await.unwrap().token_id;

    let config = config(r.dir.path(), "ES256");
    let other = Revocations::open(r.dir.path(), Identity::revocation_retention(&config))
        .await
        .unwrap();
    other.revoke_token(&jti, ChangeSource::Cli).await.unwrap();
    tokio::time::sleep(REFRESH_INTERVAL + Duration::from_millis(10)).await;

    // No explicit refresh: identify does it before verifying.
    let err = refused(id, presented).await;
    assert_eq!(
        err,
        IdentifyError::Token(VerifyError::Revoked("the token was revoked"))
    );
    assert_eq!(err.to_string(), "token is revoked: the token was revoked");
}

#[test]
fn presented_credentials_never_show_the_header_in_debug() {
    let presented = Presented {
        authorization: Some("Bearer secret-token-text"),
        token_in_query: false,
        certificate: Some("thumb"),
    };
    let shown = format!("{presented:?}");
    assert!(!shown.contains("secret-token-text"), "{shown}");
    assert!(
        shown.contains("[redacted]") && shown.contains("thumb"),
        "{shown}"
    );
}
