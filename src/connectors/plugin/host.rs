//! The host library connector plugins call: hashing, HMAC and RSA signatures by credential name,
//! base64, hex, JSON, URL and form encoding, UUIDs, HTTP dates and logging.
//!
//! Secrets stay on this side: a plugin names the credential it wants used
//! (`crypto.rsa_sha256_sign("private_key", text)`) and gets back only the result. The clock and
//! request ids can be pinned, so a signature can be compared byte for byte with a reference.

use std::cell::Cell;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use mlua::{Lua, Table, Value};
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::DecodePrivateKey;
use rsa::signature::{SignatureEncoding, Signer};
use rsa::RsaPrivateKey;
use sha2::{Digest, Sha256};

use crate::connectors::Account;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Values a call sees instead of the clock and fresh UUIDs (tests comparing signatures).
#[derive(Debug, Clone, Default)]
pub struct Pins {
    pub http_date: Option<String>,
    pub request_id: Option<String>,
    /// Unix seconds, for `time.now()`.
    pub now: Option<i64>,
}

/// The account a plugin call runs for, and its pins: borrowed for the call, not copied.
#[derive(Clone, Copy)]
struct Scope {
    account: *const Account,
    pins: *const Pins,
}

thread_local! {
    /// Plugin calls on one thread never nest; the one under way is here.
    static SCOPE: Cell<Option<Scope>> = const { Cell::new(None) };
}

/// Puts back the scope `with_account` found, however `f` ends: no pointer outlives its call.
struct Restore(Option<Scope>);

impl Drop for Restore {
    fn drop(&mut self) {
        SCOPE.with(|s| s.set(self.0));
    }
}

/// Runs `f` with `account` as the account host functions act for.
pub fn with_account<R>(account: &Account, pins: &Pins, f: impl FnOnce() -> R) -> R {
    let _restore = Restore(SCOPE.with(|s| s.replace(Some(Scope { account, pins }))));
    f()
}

/// `read` of the call's account and pins, or None outside a call.
fn scoped<R>(read: impl FnOnce(&Account, &Pins) -> R) -> Option<R> {
    // SAFETY: a scope is set only by `with_account`, for as long as it borrows the account and
    // pins, and `Restore` takes it away before the borrows end.
    SCOPE.with(Cell::get).map(|scope| unsafe { read(&*scope.account, &*scope.pins) })
}

fn secret(name: &str) -> mlua::Result<String> {
    scoped(|account, _| {
        account
            .credentials
            .get(name)
            .map(|v| v.expose().clone())
            .ok_or_else(|| mlua::Error::runtime(format!("account `{}` has no credential `{name}`", account.name)))
    })
    .unwrap_or_else(|| Err(mlua::Error::runtime("no account for this call")))
}

fn pin(get: impl Fn(&Pins) -> Option<String>) -> Option<String> {
    scoped(|_, pins| get(pins)).flatten()
}

/// Reads an RSA private key in PKCS#8 or PKCS#1 PEM.
fn private_key(pem: &str) -> mlua::Result<RsaPrivateKey> {
    RsaPrivateKey::from_pkcs8_pem(pem)
        .or_else(|_| RsaPrivateKey::from_pkcs1_pem(pem))
        .map_err(|_| mlua::Error::runtime("the credential is not an RSA private key in PEM"))
}

/// RSA-OAEP with SHA-1 (and MGF1-SHA-1), as providers that encrypt their signatures use it.
pub fn rsa_oaep_decrypt(pem: &str, data: &[u8]) -> mlua::Result<Vec<u8>> {
    private_key(pem)?
        .decrypt(rsa::Oaep::new::<sha1::Sha1>(), data)
        .map_err(|_| mlua::Error::runtime("the data does not decrypt with this key"))
}

pub fn rsa_sha256_sign(pem: &str, message: &[u8]) -> mlua::Result<Vec<u8>> {
    let key = SigningKey::<Sha256>::new(private_key(pem)?);
    Ok(key.sign(message).to_vec())
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
pub fn url_encode(s: &[u8]) -> String {
    s.iter()
        .map(|&b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Decodes `+` and `%XX` as forms encode them; bad escapes are kept as they are.
pub fn url_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped =
            (bytes[i] == b'%').then(|| s.get(i + 1..i + 3)).flatten().and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match (bytes[i], escaped) {
            (_, Some(decoded)) => {
                out.push(decoded);
                i += 3;
            }
            (b'+', None) => {
                out.push(b' ');
                i += 1;
            }
            (b, None) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The metatable of `ctx.credentials`: reading a secret from it raises an error that says how
/// the secret is used, where a plain nil would go unnoticed into a request. Other names not there
/// stay nil. Made once per state and read-only, since every call's credentials share it.
pub fn secret_guard(lua: &Lua, secrets: &[String]) -> mlua::Result<Table> {
    let secrets = secrets.to_vec();
    let index = lua.create_function(move |_, (_, key): (Value, Value)| {
        let named = match &key {
            Value::String(name) => secrets.iter().find(|s| name.as_bytes() == s.as_bytes()),
            _ => None,
        };
        match named {
            Some(name) => Err(mlua::Error::runtime(format!(
                "ctx.credentials.{name} is a secret, which a plugin never reads: name it instead, in a header \
                 ({{ secret = \"{name}\", prefix = \"…\" }} or {{ basic = {{ user, password }} }}) or to \
                 crypto.hmac_sha256(\"{name}\", data), crypto.rsa_sha256_sign(\"{name}\", data) or \
                 crypto.rsa_oaep_decrypt(\"{name}\", data)"
            ))),
            None => Ok(Value::Nil),
        }
    })?;
    let meta = lua.create_table()?;
    meta.raw_set("__index", index)?;
    meta.set_readonly(true);
    Ok(meta)
}

/// The host library, as globals of a plugin's environment.
pub fn install(lua: &Lua, env: &Table) -> mlua::Result<()> {
    let crypto = lua.create_table()?;
    crypto.raw_set(
        "sha256",
        lua.create_function(|lua, data: mlua::LuaString| lua.create_string(Sha256::digest(&*data.as_bytes())))?,
    )?;
    crypto.raw_set(
        "hmac_sha256",
        lua.create_function(|lua, (credential, data): (String, mlua::LuaString)| {
            let mut mac =
                Hmac::<Sha256>::new_from_slice(secret(&credential)?.as_bytes()).map_err(mlua::Error::external)?;
            mac.update(&data.as_bytes());
            lua.create_string(mac.finalize().into_bytes())
        })?,
    )?;
    crypto.raw_set(
        "rsa_sha256_sign",
        lua.create_function(|lua, (credential, data): (String, mlua::LuaString)| {
            let signature = crate::lua::outside_budget(|| rsa_sha256_sign(&secret(&credential)?, &data.as_bytes()))?;
            lua.create_string(signature)
        })?,
    )?;
    crypto.raw_set(
        "rsa_oaep_decrypt",
        lua.create_function(|lua, (credential, data): (String, mlua::LuaString)| {
            let clear = crate::lua::outside_budget(|| rsa_oaep_decrypt(&secret(&credential)?, &data.as_bytes()))?;
            lua.create_string(clear)
        })?,
    )?;
    env.raw_set("crypto", crypto)?;

    let base64_lib = lua.create_table()?;
    base64_lib.raw_set("encode", lua.create_function(|_, data: mlua::LuaString| Ok(B64.encode(&*data.as_bytes())))?)?;
    base64_lib.raw_set(
        "decode",
        lua.create_function(|lua, text: String| {
            let bytes = B64.decode(text.trim()).map_err(|_| mlua::Error::runtime("not base64"))?;
            lua.create_string(bytes)
        })?,
    )?;
    env.raw_set("base64", base64_lib)?;

    let hex_lib = lua.create_table()?;
    hex_lib.raw_set("encode", lua.create_function(|_, data: mlua::LuaString| Ok(hex::encode(&*data.as_bytes())))?)?;
    env.raw_set("hex", hex_lib)?;

    let json = lua.create_table()?;
    json.raw_set("encode", lua.create_function(|lua, value: Value| crate::lua::json::encode(lua, value))?)?;
    json.raw_set(
        "decode",
        lua.create_function(|lua, text: String| {
            let value: serde_json::Value = serde_json::from_str(&text).map_err(mlua::Error::external)?;
            Ok(crate::lua::json::to_lua(lua, &[&value])?.pop_front().unwrap_or_default())
        })?,
    )?;
    env.raw_set("json", json)?;

    let url = lua.create_table()?;
    url.raw_set("encode", lua.create_function(|_, s: mlua::LuaString| Ok(url_encode(&s.as_bytes())))?)?;
    env.raw_set("url", url)?;

    let form = lua.create_table()?;
    form.raw_set(
        "encode",
        lua.create_function(|_, fields: Table| {
            // Sorted, so the same fields always give the same bytes (and the same digest).
            let mut pairs: Vec<(String, String)> = fields.pairs::<String, String>().collect::<mlua::Result<_>>()?;
            pairs.sort();
            Ok(pairs
                .iter()
                .map(|(k, v)| format!("{}={}", url_encode(k.as_bytes()), url_encode(v.as_bytes())))
                .collect::<Vec<_>>()
                .join("&"))
        })?,
    )?;
    form.raw_set(
        "decode",
        lua.create_function(|lua, text: String| {
            let fields = lua.create_table()?;
            for pair in text.split('&').filter(|p| !p.is_empty()) {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                fields.raw_set(url_decode(k), url_decode(v))?;
            }
            Ok(fields)
        })?,
    )?;
    env.raw_set("form", form)?;

    let uuid = lua.create_table()?;
    uuid.raw_set(
        "v4",
        lua.create_function(|_, ()| {
            Ok(pin(|p| p.request_id.clone()).unwrap_or_else(|| uuid::Uuid::new_v4().hyphenated().to_string()))
        })?,
    )?;
    env.raw_set("uuid", uuid)?;

    let time = lua.create_table()?;
    time.raw_set(
        "http_date",
        lua.create_function(|_, ()| {
            Ok(pin(|p| p.http_date.clone())
                .unwrap_or_else(|| chrono::Utc::now().format("%a, %d %b %Y %H:%M:%S GMT").to_string()))
        })?,
    )?;
    time.raw_set(
        "now",
        lua.create_function(|_, ()| {
            let pinned = scoped(|_, pins| pins.now).flatten();
            Ok(pinned.unwrap_or_else(|| chrono::Utc::now().timestamp()))
        })?,
    )?;
    time.raw_set(
        "parse_http_date",
        lua.create_function(|_, text: String| {
            Ok(chrono::DateTime::parse_from_rfc2822(text.trim()).ok().map(|t| t.timestamp()))
        })?,
    )?;
    env.raw_set("time", time)?;

    let log = lua.create_table()?;
    log.raw_set(
        "info",
        lua.create_function(|_, message: String| {
            tracing::info!(target: "switchyard::plugin", "{message}");
            Ok(())
        })?,
    )?;
    log.raw_set(
        "warn",
        lua.create_function(|_, message: String| {
            tracing::warn!(target: "switchyard::plugin", "{message}");
            Ok(())
        })?,
    )?;
    env.raw_set("log", log)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_encoding_keeps_only_unreserved_characters() {
        assert_eq!(url_encode(b"a b&c=d/e~f"), "a%20b%26c%3Dd%2Fe~f");
    }

    #[test]
    fn form_values_decode() {
        assert_eq!(url_decode("a+b%26c%3D"), "a b&c=");
        assert_eq!(url_decode("100%"), "100%");
        assert_eq!(url_decode("%zz"), "%zz");
    }
}
