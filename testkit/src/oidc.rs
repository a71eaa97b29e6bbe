//! A local `OpenID` provider for the authentication tests: signing keys generated with the
//! `openssl` CLI, a discovery document and a JWKS served on 127.0.0.1 (the published keys can be
//! switched while it runs, and the discovery document can be made to say something else), and
//! tokens minted with any key and header, valid or deliberately broken.

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::{Context, bail, ensure};
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use poem::web::Data;
use poem::{EndpointExt, Response, Route, handler};
use serde_json::{Value, json};
use thv_ports::Clock as _;

/// The audience the test configurations expect.
pub const AUDIENCE: &str = "thv-registry-tests";

/// A signing key pair with its public JWK.
#[derive(Debug, Clone)]
pub struct TestKey {
    pub kid: String,
    pub alg: Algorithm,
    private_pem: Vec<u8>,
    /// The public key, PEM (`SubjectPublicKeyInfo`).
    pub public_pem: Vec<u8>,
    pub jwk: Value,
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn openssl(args: &[&str], dir: &Path) -> anyhow::Result<Vec<u8>> {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .context("running `openssl` (install it: apt-get install -y openssl)")?;
    ensure!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    Ok(out.stdout)
}

impl TestKey {
    /// An RSA-2048 key for RS256.
    pub fn rsa(kid: &str) -> anyhow::Result<Self> {
        Self::generate(kid, Algorithm::RS256, &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"])
    }

    /// A P-256 key for ES256.
    pub fn ec(kid: &str) -> anyhow::Result<Self> {
        Self::generate(kid, Algorithm::ES256, &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"])
    }

    /// An Ed25519 key for `EdDSA`.
    pub fn ed25519(kid: &str) -> anyhow::Result<Self> {
        Self::generate(kid, Algorithm::EdDSA, &["-algorithm", "ed25519"])
    }

    fn generate(kid: &str, alg: Algorithm, genpkey: &[&str]) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let mut args = vec!["genpkey"];
        args.extend_from_slice(genpkey);
        args.extend_from_slice(&["-out", "key.pem"]);
        openssl(&args, dir.path())?;
        let private_pem = std::fs::read(dir.path().join("key.pem"))?;
        let public_pem = openssl(&["pkey", "-in", "key.pem", "-pubout"], dir.path())?;
        let der = openssl(&["pkey", "-in", "key.pem", "-pubout", "-outform", "DER"], dir.path())?;
        let jwk = match alg {
            Algorithm::RS256 => {
                let out = openssl(&["rsa", "-in", "key.pem", "-noout", "-modulus"], dir.path())?;
                let text = String::from_utf8(out)?;
                let hex_modulus = text.trim().strip_prefix("Modulus=").context("openssl -modulus output")?;
                let modulus = (0..hex_modulus.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(&hex_modulus[i..i + 2], 16))
                    .collect::<Result<Vec<u8>, _>>()?;
                json!({"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid, "n": b64(&modulus), "e": "AQAB"})
            }
            Algorithm::ES256 => {
                // The DER ends with the uncompressed point 0x04 || x || y.
                ensure!(der.len() >= 65 && der[der.len() - 65] == 4, "unexpected EC public key encoding");
                let point = &der[der.len() - 64..];
                json!({"kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": kid,
                       "x": b64(&point[..32]), "y": b64(&point[32..])})
            }
            Algorithm::EdDSA => {
                ensure!(der.len() >= 32, "unexpected Ed25519 public key encoding");
                json!({"kty": "OKP", "crv": "Ed25519", "use": "sig", "alg": "EdDSA", "kid": kid,
                       "x": b64(&der[der.len() - 32..])})
            }
            other => bail!("no test key type for {other:?}"),
        };
        Ok(Self { kid: kid.to_owned(), alg, private_pem, public_pem, jwk })
    }

    fn encoding_key(&self) -> anyhow::Result<EncodingKey> {
        Ok(match self.alg {
            Algorithm::RS256 => EncodingKey::from_rsa_pem(&self.private_pem)?,
            Algorithm::ES256 => EncodingKey::from_ec_pem(&self.private_pem)?,
            _ => EncodingKey::from_ed_pem(&self.private_pem)?,
        })
    }

    /// A token signed with this key, `kid` in the header.
    pub fn sign(&self, claims: &Value) -> anyhow::Result<String> {
        self.sign_as(&self.kid, claims)
    }

    /// A token signed with this key but naming another `kid` (a forged signature when that kid
    /// belongs to a published key).
    pub fn sign_as(&self, kid: &str, claims: &Value) -> anyhow::Result<String> {
        let mut header = Header::new(self.alg);
        header.kid = Some(kid.to_owned());
        Ok(jsonwebtoken::encode(&header, claims, &self.encoding_key()?)?)
    }

    /// A token signed with this key whose header `typ` is `typ` (`None`: no `typ` at all);
    /// [`sign`](Self::sign) writes `typ: JWT`, as most providers do.
    pub fn sign_typed(&self, typ: Option<&str>, claims: &Value) -> anyhow::Result<String> {
        let mut header = Header::new(self.alg);
        header.kid = Some(self.kid.clone());
        header.typ = typ.map(str::to_owned);
        Ok(jsonwebtoken::encode(&header, claims, &self.encoding_key()?)?)
    }

    /// The classic confusion attack: HS256 with this key's public PEM as the HMAC secret.
    pub fn sign_hs256_with_public_key(&self, claims: &Value) -> anyhow::Result<String> {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(self.kid.clone());
        Ok(jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(&self.public_pem))?)
    }
}

/// An unsigned token (`alg: none`).
pub fn unsigned_token(kid: &str, claims: &Value) -> String {
    let header = json!({"alg": "none", "typ": "JWT", "kid": kid});
    format!("{}.{}.", b64(header.to_string().as_bytes()), b64(claims.to_string().as_bytes()))
}

/// A token with any header and claims and a signature that is not one (`c2ln`), for headers no
/// JWT library would write.
pub fn raw_token(header: &Value, claims: &Value) -> String {
    format!("{}.{}.c2ln", b64(header.to_string().as_bytes()), b64(claims.to_string().as_bytes()))
}

#[derive(Debug)]
struct State {
    issuer: String,
    jwks: Mutex<Value>,
    jwks_fetches: AtomicUsize,
    /// Replaces members of the discovery document (`issuer`, `jwks_uri`).
    discovery_overrides: Mutex<serde_json::Map<String, Value>>,
}

/// The provider: `/.well-known/openid-configuration` and `/jwks` on 127.0.0.1.
#[derive(Debug)]
pub struct Idp {
    state: Arc<State>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Idp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[handler]
fn discovery(Data(state): Data<&Arc<State>>) -> Response {
    let mut doc = json!({
        "issuer": state.issuer,
        "jwks_uri": format!("{}/jwks", state.issuer),
        "id_token_signing_alg_values_supported": ["RS256", "ES256", "EdDSA"],
    });
    for (k, v) in state.discovery_overrides.lock().unwrap_or_else(PoisonError::into_inner).iter() {
        doc[k] = v.clone();
    }
    Response::builder().content_type("application/json").body(doc.to_string())
}

#[handler]
fn jwks(Data(state): Data<&Arc<State>>) -> Response {
    state.jwks_fetches.fetch_add(1, Ordering::SeqCst);
    let body = state.jwks.lock().unwrap_or_else(PoisonError::into_inner).to_string();
    Response::builder().content_type("application/json").body(body)
}

impl Idp {
    /// Starts a provider publishing `keys`.
    pub async fn start(keys: &[&TestKey]) -> anyhow::Result<Self> {
        let listener = crate::Loopback::bind().await?;
        let state = Arc::new(State {
            issuer: format!("http://{}", listener.addr),
            jwks: Mutex::new(Value::Null),
            jwks_fetches: AtomicUsize::new(0),
            discovery_overrides: Mutex::default(),
        });
        let idp_state = state.clone();
        let app = Route::new().at("/.well-known/openid-configuration", discovery).at("/jwks", jwks).data(state.clone());
        let idp = Self { state: idp_state, task: listener.serve(app) };
        idp.publish(keys);
        Ok(idp)
    }

    /// The issuer URL (`http://127.0.0.1:PORT`), also the base of the discovery document.
    pub fn issuer(&self) -> &str {
        &self.state.issuer
    }

    /// The JWKS URL.
    pub fn jwks_url(&self) -> String {
        format!("{}/jwks", self.state.issuer)
    }

    /// Replaces the published key set.
    pub fn publish(&self, keys: &[&TestKey]) {
        let set = json!({"keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>()});
        *self.state.jwks.lock().unwrap_or_else(PoisonError::into_inner) = set;
    }

    /// Makes the discovery document say `member: value` (e.g. another `issuer` or `jwks_uri`).
    pub fn set_discovery(&self, member: &str, value: &str) {
        let mut overrides = self.state.discovery_overrides.lock().unwrap_or_else(PoisonError::into_inner);
        overrides.insert(member.to_owned(), Value::String(value.to_owned()));
    }

    /// How many times the JWKS was fetched.
    pub fn jwks_fetches(&self) -> usize {
        self.state.jwks_fetches.load(Ordering::SeqCst)
    }

    /// Claims of a valid token from this provider for `subject`, with `extra` merged in: `iss`,
    /// `aud` = [`AUDIENCE`], `iat`, `nbf` now, `exp` in ten minutes.
    pub fn claims(&self, subject: &str, extra: &Value) -> Value {
        let now = thv_adapters::SystemClock.now().timestamp();
        let mut claims = json!({
            "iss": self.state.issuer, "sub": subject, "aud": AUDIENCE,
            "iat": now, "nbf": now, "exp": now + 600,
        });
        if let (Some(c), Some(e)) = (claims.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                c.insert(k.clone(), v.clone());
            }
        }
        claims
    }
}

/// Seconds since the epoch, for building `exp`/`nbf` by hand.
pub fn now() -> i64 {
    thv_adapters::SystemClock.now().timestamp()
}
