//! The table of forged and malformed access tokens: claim, header, algorithm and structure
//! attacks, each of which must be refused with a specific reason. Tokens are signed with the
//! gateway's real key unless the case is about another key, so that a refusal can only come
//! from the check the case is about.

use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair,
};
use base64::Engine as _;
use portcullis_config::SigningAlgorithm;
use serde_json::{Value, json};

use super::*;

/// What a case must be refused with.
enum Expect {
    Exactly(VerifyError),
    AnyClaims,
    AnyMalformed,
}

struct Case {
    name: &'static str,
    token: String,
    expect: Expect,
}

fn case(name: &'static str, token: String, expect: Expect) -> Case {
    Case {
        name,
        token,
        expect,
    }
}

/// Valid claims changed by `change`, signed with our key under a good header.
fn claims_case(id: &Identity, change: impl FnOnce(&mut Value)) -> String {
    let mut claims = good_claims(id);
    change(&mut claims);
    sign_raw(id, &good_header(id), &claims)
}

/// A good header changed by `change`, over good claims, signed with our key.
fn header_case(id: &Identity, change: impl FnOnce(&mut Value)) -> String {
    let mut header = good_header(id);
    change(&mut header);
    sign_raw(id, &header, &good_claims(id))
}

fn remove(value: &mut Value, member: &str) {
    value.as_object_mut().unwrap().remove(member);
}

/// Raw header and payload text (for duplicate members), signed with our key.
fn sign_text(id: &Identity, header: &str, payload: &str) -> String {
    let message = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(payload)
    );
    let signature =
        jsonwebtoken::crypto::sign(message.as_bytes(), &id.key().encoding, id.key().algorithm)
            .unwrap();
    format!("{message}.{signature}")
}

/// Header and claims with an arbitrary signature part.
fn with_signature(header: &Value, claims: &Value, signature: &str) -> String {
    format!(
        "{}.{}.{signature}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

/// Signs with an HMAC key, the classic confusion of a public key with a shared secret.
fn hmac_token(id: &Identity, secret: &[u8]) -> String {
    let header = json!({"alg": "HS256", "typ": "at+jwt", "kid": id.key().kid});
    let message = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(good_claims(id).to_string())
    );
    let key = jsonwebtoken::EncodingKey::from_secret(secret);
    let signature =
        jsonwebtoken::crypto::sign(message.as_bytes(), &key, jsonwebtoken::Algorithm::HS256)
            .unwrap();
    format!("{message}.{signature}")
}

/// Our public key in the forms an HMAC confusion attack would try as the secret.
fn public_key_forms(id: &Identity) -> Vec<(&'static str, Vec<u8>)> {
    let coordinate = |c: &str| {
        URL_SAFE_NO_PAD
            .decode(id.key().jwk[c].as_str().unwrap())
            .unwrap()
    };
    let point = [vec![4u8], coordinate("x"), coordinate("y")].concat();
    // SubjectPublicKeyInfo for a P-256 key: a fixed prefix, then the uncompressed point.
    let spki_prefix = [
        0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08,
        0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
    ];
    let der = [&spki_prefix[..], &point].concat();
    let body = STANDARD.encode(&der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    let pem = format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        lines.join("\n")
    );
    vec![
        ("point", point),
        ("SPKI DER", der),
        ("SPKI PEM", pem.into_bytes()),
        ("JWK", id.key().jwk.to_string().into_bytes()),
    ]
}

/// The PKCS#8 DER of the fixture's signing key, read back from its key file.
fn private_der(f: &Fixture) -> Vec<u8> {
    let file = f.data_dir.join(key::KEYS_DIR).join(&f.identity.key().file);
    let pem = std::fs::read_to_string(file).unwrap();
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    STANDARD.decode(body).unwrap()
}

fn attacker_key() -> key::SigningKey {
    key::from_pkcs8(&key::generate_pkcs8(SigningAlgorithm::ES256).unwrap()).unwrap()
}

fn cases(f: &Fixture, ed: &Fixture) -> Vec<Case> {
    use Expect::{AnyClaims, AnyMalformed, Exactly};
    let id = &f.identity;
    let now = id.now();
    let kid = id.key().kid.clone();
    let claims = good_claims(id);
    let good = sign_raw(id, &good_header(id), &claims);
    let parts: Vec<&str> = good.split('.').collect();
    let (head, payload, signature) = (parts[0], parts[1], parts[2]);
    let attacker = attacker_key();
    let attacker_sign = |header: &Value| {
        let message = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature =
            jsonwebtoken::crypto::sign(message.as_bytes(), &attacker.encoding, attacker.algorithm)
                .unwrap();
        format!("{message}.{signature}")
    };

    let mut table = vec![
        // Time claims: beyond the 30 s leeway.
        case(
            "exp passed",
            claims_case(id, |c| c["exp"] = json!(now - 31)),
            Exactly(VerifyError::Expired),
        ),
        case(
            "exp far in the past",
            claims_case(id, |c| c["exp"] = json!(0)),
            Exactly(VerifyError::Expired),
        ),
        case(
            "nbf in the future",
            claims_case(id, |c| c["nbf"] = json!(now + 120)),
            Exactly(VerifyError::NotYetValid),
        ),
        case(
            "iat in the future",
            claims_case(id, |c| c["iat"] = json!(now + 120)),
            Exactly(VerifyError::IssuedInFuture),
        ),
        case(
            "exp missing",
            claims_case(id, |c| remove(c, "exp")),
            AnyClaims,
        ),
        case(
            "iat missing",
            claims_case(id, |c| remove(c, "iat")),
            AnyClaims,
        ),
        case(
            "exp as a string",
            claims_case(id, |c| c["exp"] = json!((now + 600).to_string())),
            AnyClaims,
        ),
        case(
            "exp as a fraction",
            claims_case(id, |c| c["exp"] = json!(1.0e12)),
            AnyClaims,
        ),
        // Issuer and audience.
        case(
            "iss of another issuer",
            claims_case(id, |c| c["iss"] = json!("https://evil.example")),
            Exactly(VerifyError::Issuer),
        ),
        case(
            "iss with a trailing slash",
            claims_case(id, |c| c["iss"] = json!("https://gw.example/")),
            Exactly(VerifyError::Issuer),
        ),
        case(
            "iss missing",
            claims_case(id, |c| remove(c, "iss")),
            AnyClaims,
        ),
        case(
            "aud of another gateway",
            claims_case(id, |c| c["aud"] = json!("https://other.example")),
            Exactly(VerifyError::Audience),
        ),
        case(
            "aud list without us",
            claims_case(id, |c| c["aud"] = json!(["a", "b"])),
            Exactly(VerifyError::Audience),
        ),
        case(
            "aud missing",
            claims_case(id, |c| remove(c, "aud")),
            AnyClaims,
        ),
        // Identity claims.
        case(
            "jti missing",
            claims_case(id, |c| remove(c, "jti")),
            AnyClaims,
        ),
        case(
            "jti empty",
            claims_case(id, |c| c["jti"] = json!("")),
            AnyClaims,
        ),
        case(
            "sub missing",
            claims_case(id, |c| remove(c, "sub")),
            AnyClaims,
        ),
        case(
            "sub empty",
            claims_case(id, |c| c["sub"] = json!("")),
            AnyClaims,
        ),
        case(
            "client_id missing",
            claims_case(id, |c| remove(c, "client_id")),
            AnyClaims,
        ),
        case(
            "client_id empty",
            claims_case(id, |c| c["client_id"] = json!("")),
            AnyClaims,
        ),
        case(
            "client_id not configured",
            claims_case(id, |c| c["client_id"] = json!("ghost")),
            Exactly(VerifyError::UnknownAgent("ghost".into())),
        ),
        case(
            "roles as a string",
            claims_case(id, |c| c["roles"] = json!("admin")),
            AnyClaims,
        ),
        case(
            "duplicate client_id claim",
            sign_text(
                id,
                &good_header(id).to_string(),
                &claims
                    .to_string()
                    .replacen('{', r#"{"client_id":"env-agent","#, 1),
            ),
            AnyClaims,
        ),
        case(
            "payload is a JSON array",
            sign_text(id, &good_header(id).to_string(), "[]"),
            AnyClaims,
        ),
        case(
            "payload is a JSON array of the claims in field order",
            sign_text(
                id,
                &good_header(id).to_string(),
                &json!([
                    id.issuer(),
                    "reporter",
                    id.audience(),
                    now + 600,
                    now,
                    now,
                    "j-1",
                    "reporter",
                    "orders:read",
                    ["reader"],
                ])
                .to_string(),
            ),
            AnyClaims,
        ),
        case(
            "header is a JSON array of the members in field order",
            sign_text(
                id,
                &json!(["ES256", "at+jwt", kid]).to_string(),
                &claims.to_string(),
            ),
            AnyMalformed,
        ),
        case(
            "payload is not JSON",
            sign_text(id, &good_header(id).to_string(), "foo"),
            AnyClaims,
        ),
        // Type.
        case(
            "typ missing",
            header_case(id, |h| remove(h, "typ")),
            Exactly(VerifyError::Type(String::new())),
        ),
        case(
            "typ JWT instead of at+jwt",
            header_case(id, |h| h["typ"] = json!("JWT")),
            Exactly(VerifyError::Type("JWT".into())),
        ),
        case(
            "typ of an ID token",
            header_case(id, |h| h["typ"] = json!("id_token+jwt")),
            Exactly(VerifyError::Type("id_token+jwt".into())),
        ),
        // Algorithm: pinned to the key, checked before any cryptography.
        case(
            "alg missing",
            header_case(id, |h| remove(h, "alg")),
            Exactly(VerifyError::Algorithm(String::new())),
        ),
        case(
            "alg none with a signature",
            with_signature(
                &json!({"alg": "none", "typ": "at+jwt", "kid": kid}),
                &claims,
                "AAAA",
            ),
            Exactly(VerifyError::Algorithm("none".into())),
        ),
        case(
            "alg none without a signature",
            with_signature(
                &json!({"alg": "none", "typ": "at+jwt", "kid": kid}),
                &claims,
                "",
            ),
            AnyMalformed,
        ),
        case(
            "alg NONE",
            with_signature(
                &json!({"alg": "NONE", "typ": "at+jwt", "kid": kid}),
                &claims,
                "AAAA",
            ),
            Exactly(VerifyError::Algorithm("NONE".into())),
        ),
        case(
            "alg in lower case",
            header_case(id, |h| h["alg"] = json!("es256")),
            Exactly(VerifyError::Algorithm("es256".into())),
        ),
        case(
            "alg RS256",
            with_signature(
                &json!({"alg": "RS256", "typ": "at+jwt", "kid": kid}),
                &claims,
                &URL_SAFE_NO_PAD.encode([7u8; 256]),
            ),
            Exactly(VerifyError::Algorithm("RS256".into())),
        ),
        case(
            "alg PS256",
            with_signature(
                &json!({"alg": "PS256", "typ": "at+jwt", "kid": kid}),
                &claims,
                &URL_SAFE_NO_PAD.encode([7u8; 256]),
            ),
            Exactly(VerifyError::Algorithm("PS256".into())),
        ),
        case(
            "alg EdDSA signed by an Ed25519 key",
            sign_raw(
                &ed.identity,
                &json!({"alg": "EdDSA", "typ": "at+jwt", "kid": kid}),
                &claims,
            ),
            Exactly(VerifyError::Algorithm("EdDSA".into())),
        ),
        case(
            "alg as a number",
            header_case(id, |h| h["alg"] = json!(256)),
            AnyMalformed,
        ),
        // Key id: compared for equality with our thumbprint, never used as a path or query.
        case(
            "kid unknown",
            header_case(id, |h| h["kid"] = json!("other")),
            Exactly(VerifyError::KeyId("other".into())),
        ),
        case(
            "kid missing",
            header_case(id, |h| remove(h, "kid")),
            Exactly(VerifyError::KeyId(String::new())),
        ),
        case(
            "kid path traversal",
            header_case(id, |h| h["kid"] = json!("../../../../dev/null")),
            Exactly(VerifyError::KeyId("../../../../dev/null".into())),
        ),
        case(
            "kid path to the key file",
            header_case(id, |h| h["kid"] = json!(format!("../{SIGNING_KEY_FILE}"))),
            Exactly(VerifyError::KeyId(format!("../{SIGNING_KEY_FILE}"))),
        ),
        case(
            "kid SQL injection",
            header_case(id, |h| h["kid"] = json!("x' UNION SELECT 'secret' --")),
            Exactly(VerifyError::KeyId("x' UNION SELECT 'secret' --".into())),
        ),
        case(
            "kid ours followed by a null byte",
            header_case(id, |h| h["kid"] = json!(format!("{kid}\u{0}"))),
            Exactly(VerifyError::KeyId(format!("{kid}\u{0}"))),
        ),
        case(
            "kid ours in another case",
            header_case(id, |h| h["kid"] = json!(kid.to_uppercase())),
            Exactly(VerifyError::KeyId(kid.to_uppercase())),
        ),
        case(
            "kid as a number",
            header_case(id, |h| h["kid"] = json!(1)),
            AnyMalformed,
        ),
        // Members that would let the token choose its own key, or demand unknown processing.
        case(
            "embedded jwk of the attacker's key, signed with it",
            attacker_sign(&json!({
                "alg": "ES256", "typ": "at+jwt", "kid": attacker.kid, "jwk": attacker.jwk,
            })),
            Exactly(VerifyError::ForbiddenHeader("jwk")),
        ),
        case(
            "embedded jwk of our own key",
            header_case(id, |h| h["jwk"] = id.key().jwk.clone()),
            Exactly(VerifyError::ForbiddenHeader("jwk")),
        ),
        case(
            "jku",
            header_case(id, |h| h["jku"] = json!("https://evil.example/jwks.json")),
            Exactly(VerifyError::ForbiddenHeader("jku")),
        ),
        case(
            "x5u",
            header_case(id, |h| h["x5u"] = json!("https://evil.example/cert.pem")),
            Exactly(VerifyError::ForbiddenHeader("x5u")),
        ),
        case(
            "x5c",
            header_case(id, |h| h["x5c"] = json!(["MIIBkTCB+wIJAKHBfpegPjMCMA0="])),
            Exactly(VerifyError::ForbiddenHeader("x5c")),
        ),
        case(
            "x5c null",
            header_case(id, |h| h["x5c"] = Value::Null),
            Exactly(VerifyError::ForbiddenHeader("x5c")),
        ),
        case(
            "crit",
            header_case(id, |h| h["crit"] = json!(["exp"])),
            Exactly(VerifyError::ForbiddenHeader("crit")),
        ),
        case(
            "duplicate kid header member",
            sign_text(
                id,
                &format!(r#"{{"alg":"ES256","typ":"at+jwt","kid":"x","kid":"{kid}"}}"#),
                &claims.to_string(),
            ),
            AnyMalformed,
        ),
        case(
            "duplicate alg header member",
            sign_text(
                id,
                &format!(r#"{{"alg":"none","alg":"ES256","typ":"at+jwt","kid":"{kid}"}}"#),
                &claims.to_string(),
            ),
            AnyMalformed,
        ),
        // Signatures.
        case(
            "signature from another P-256 key under our kid",
            attacker_sign(&good_header(id)),
            Exactly(VerifyError::Signature),
        ),
        case(
            "signature of our key in ASN.1 DER form",
            {
                let pair =
                    EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &private_der(f))
                        .unwrap();
                let message = format!("{head}.{payload}");
                let der = pair
                    .sign(&aws_lc_rs::rand::SystemRandom::new(), message.as_bytes())
                    .unwrap();
                format!("{message}.{}", URL_SAFE_NO_PAD.encode(der.as_ref()))
            },
            Exactly(VerifyError::Signature),
        ),
        case(
            "signature of a P-384 key with alg ES256",
            {
                let rng = aws_lc_rs::rand::SystemRandom::new();
                let der =
                    EcdsaKeyPair::generate_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, &rng).unwrap();
                let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, der.as_ref())
                    .unwrap();
                let message = format!("{head}.{payload}");
                let sig = pair.sign(&rng, message.as_bytes()).unwrap();
                format!("{message}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()))
            },
            Exactly(VerifyError::Signature),
        ),
        case(
            "alg ES384 signed by a P-384 key",
            {
                let rng = aws_lc_rs::rand::SystemRandom::new();
                let der =
                    EcdsaKeyPair::generate_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, &rng).unwrap();
                let key = jsonwebtoken::EncodingKey::from_ec_der(der.as_ref());
                let header = json!({"alg": "ES384", "typ": "at+jwt", "kid": kid});
                let message = format!("{}.{payload}", URL_SAFE_NO_PAD.encode(header.to_string()));
                let sig = jsonwebtoken::crypto::sign(
                    message.as_bytes(),
                    &key,
                    jsonwebtoken::Algorithm::ES384,
                )
                .unwrap();
                format!("{message}.{sig}")
            },
            Exactly(VerifyError::Algorithm("ES384".into())),
        ),
        case(
            "signature all zero",
            format!("{head}.{payload}.{}", URL_SAFE_NO_PAD.encode([0u8; 64])),
            Exactly(VerifyError::Signature),
        ),
        case(
            "signature with base64 padding",
            format!("{head}.{payload}.{signature}=="),
            Exactly(VerifyError::Signature),
        ),
        case(
            "signature truncated",
            format!("{head}.{payload}.{}", &signature[..signature.len() - 2]),
            Exactly(VerifyError::Signature),
        ),
        case(
            "signature of another payload",
            {
                let mut elevated = claims.clone();
                elevated["roles"] = json!(["admin"]);
                format!(
                    "{head}.{}.{signature}",
                    URL_SAFE_NO_PAD.encode(elevated.to_string())
                )
            },
            Exactly(VerifyError::Signature),
        ),
        case(
            "signature stripped, dot kept",
            format!("{head}.{payload}."),
            AnyMalformed,
        ),
        // Structure.
        case("two segments", format!("{head}.{payload}"), AnyMalformed),
        case(
            "four segments",
            format!("{head}.{payload}.{signature}.{signature}"),
            AnyMalformed,
        ),
        case(
            "five segments, like an encrypted token",
            format!("{head}..{payload}.{signature}.AAAA"),
            AnyMalformed,
        ),
        case(
            "empty header",
            format!(".{payload}.{signature}"),
            AnyMalformed,
        ),
        case(
            "header not base64url",
            format!("{head}!.{payload}.{signature}"),
            AnyMalformed,
        ),
        case(
            "header a JSON array",
            format!("{}.{payload}.{signature}", URL_SAFE_NO_PAD.encode("[]")),
            AnyMalformed,
        ),
        case(
            "oversized token",
            claims_case(id, |c| c["pad"] = json!("x".repeat(9 * 1024))),
            Exactly(VerifyError::Malformed("too long")),
        ),
        case("empty token", String::new(), AnyMalformed),
    ];
    for (form, secret) in public_key_forms(id) {
        let name = match form {
            "point" => "HS256 keyed with our public point",
            "SPKI DER" => "HS256 keyed with our public key as DER",
            "SPKI PEM" => "HS256 keyed with our public key as PEM",
            _ => "HS256 keyed with our public JWK",
        };
        table.push(case(
            name,
            hmac_token(id, &secret),
            Exactly(VerifyError::Algorithm("HS256".into())),
        ));
    }
    table
}

#[test]
fn forged_and_malformed_tokens_are_refused_for_the_right_reason() {
    let f = fixture("ES256");
    let ed = fixture("EdDSA");
    let id = &f.identity;
    let table = cases(&f, &ed);
    let mut failures = Vec::new();
    for Case {
        name,
        token,
        expect,
    } in &table
    {
        let got = id.verify(token);
        let ok = match (&got, expect) {
            (Err(err), Expect::Exactly(want)) => err == want,
            (Err(VerifyError::Claims(_)), Expect::AnyClaims)
            | (Err(VerifyError::Malformed(_)), Expect::AnyMalformed) => true,
            _ => false,
        };
        if !ok {
            failures.push(format!("{name}: got {got:?}"));
        }
        if let Err(err) = &got {
            // The reason is for logs: never the token, and attacker text is shortened.
            let text = err.to_string();
            assert!(text.len() < 200, "{name}: {text}");
            if token.len() > 8 {
                assert!(!text.contains(token.as_str()), "{name}: {text}");
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases were not refused as expected:\n{}",
        failures.len(),
        table.len(),
        failures.join("\n")
    );
    // Nothing refused was cached.
    assert_eq!(id.cache.len(), 0);
}

#[test]
fn long_kid_is_refused_and_clipped() {
    let f = fixture("ES256");
    let id = &f.identity;
    let kid = "k".repeat(4000);
    let token = header_case(id, |h| h["kid"] = json!(kid));
    let err = id.verify(&token).unwrap_err();
    let VerifyError::KeyId(shown) = &err else {
        panic!("{err:?}");
    };
    assert!(shown.len() < 100, "{}", shown.len());
}

#[test]
fn control_tokens_of_the_table_are_accepted() {
    // Guards the table: the same construction without the attack verifies, so each refusal
    // comes from the attack.
    let f = fixture("ES256");
    let id = &f.identity;
    let now = id.now();
    let accepted = [
        ("good", sign_raw(id, &good_header(id), &good_claims(id))),
        (
            "within the leeway",
            claims_case(id, |c| {
                c["exp"] = json!(now - 5);
                c["nbf"] = json!(now + 5);
                c["iat"] = json!(now + 5);
            }),
        ),
        (
            "aud list naming us",
            claims_case(id, |c| c["aud"] = json!(["x", id.audience()])),
        ),
        ("nbf absent", claims_case(id, |c| remove(c, "nbf"))),
        (
            "typ as a media type",
            header_case(id, |h| h["typ"] = json!("application/at+jwt")),
        ),
        (
            "typ in upper case",
            header_case(id, |h| h["typ"] = json!("AT+JWT")),
        ),
        (
            "unknown header member",
            header_case(id, |h| h["cty"] = json!("x")),
        ),
        (
            "just under the size limit",
            claims_case(id, |c| c["pad"] = json!("x".repeat(5 * 1024))),
        ),
        (
            "raw text signer",
            sign_text(
                id,
                &good_header(id).to_string(),
                &good_claims(id).to_string(),
            ),
        ),
    ];
    for (name, token) in accepted {
        assert!(id.verify(&token).is_ok(), "{name}: {:?}", id.verify(&token));
    }
    let ed = fixture("EdDSA");
    let token = sign_raw(
        &ed.identity,
        &good_header(&ed.identity),
        &good_claims(&ed.identity),
    );
    assert!(ed.identity.verify(&token).is_ok());
}

#[test]
fn eddsa_identity_refuses_es256_and_foreign_ed25519_tokens() {
    let ed = fixture("EdDSA");
    let id = &ed.identity;
    let es = fixture("ES256");
    let claims = good_claims(id);
    let es256 = sign_raw(
        &es.identity,
        &json!({"alg": "ES256", "typ": "at+jwt", "kid": id.key().kid}),
        &claims,
    );
    assert_eq!(
        id.verify(&es256).unwrap_err(),
        VerifyError::Algorithm("ES256".into())
    );
    let other = fixture("EdDSA");
    let foreign = sign_raw(&other.identity, &good_header(id), &claims);
    assert_eq!(id.verify(&foreign).unwrap_err(), VerifyError::Signature);
    let x = URL_SAFE_NO_PAD
        .decode(id.key().jwk["x"].as_str().unwrap())
        .unwrap();
    assert_eq!(
        id.verify(&hmac_token(id, &x)).unwrap_err(),
        VerifyError::Algorithm("HS256".into())
    );
}
