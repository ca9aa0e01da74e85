//! Fuzz target: what an identity provider or a client hands gatehouse's token exchange and
//! listeners — a JWT (compact JWS) and a JWKS document — decoded and checked the way
//! `POST /v1/token` and the PostgreSQL listener do: `jwt::decode`, the workload claim rules,
//! `JwkSet::parse` and every key's members, and a gatehouse token verification.
//!
//! Input: byte 0 chooses the mode. Even: the rest is a token (lossy UTF-8), decoded, its
//! claims validated against fixed rules, and verified as a gatehouse token. Odd: the rest is a
//! JWKS document, parsed, and each key's `n`/`e`/`x`/`y` members decoded.
//!
//! Checked: nothing panics or hangs; a token that decodes is never accepted as a gatehouse
//! token (the fuzzer cannot forge an Ed25519 signature of a key generated here).

use gatehouse_identity::{GroupRule, JwkSet, TokenSigner, WorkloadRules, decode};

fn main() {
    let pkcs8 = TokenSigner::generate_pkcs8().expect("generate a signing key");
    let verifier = TokenSigner::from_pkcs8(&pkcs8)
        .expect("load the signing key")
        .verifier();
    let rules = WorkloadRules {
        issuer: "https://issuer.example".to_owned(),
        audiences: vec!["gatehouse".to_owned()],
        subject_claim: "sub".to_owned(),
        groups_claim: Some("groups".to_owned()),
        conditions: [("repository".to_owned(), "acme/api".to_owned())].into(),
        leeway_secs: 30,
        group_rules: vec![GroupRule {
            claim: "environment".to_owned(),
            value: "production".to_owned(),
            group: "deployers".to_owned(),
        }],
    };
    afl::fuzz!(|data: &[u8]| {
        let Some((&mode, rest)) = data.split_first() else {
            return;
        };
        if mode & 1 == 0 {
            let text = String::from_utf8_lossy(rest);
            if let Ok(jws) = decode(&text) {
                let _ = rules.validate(&jws.claims, 1_800_000_000);
            }
            assert!(
                verifier.verify(&text, 1_800_000_000).is_err(),
                "a token the fuzzer made was accepted as a gatehouse token"
            );
        } else if let Ok(set) = JwkSet::parse(rest) {
            for key in &set.keys {
                for member in ["n", "e", "x", "y"] {
                    let _ = key.decoded(member);
                }
            }
        }
    });
}
