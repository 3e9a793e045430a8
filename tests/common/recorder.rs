//! What the in-process provider doubles share: each request they receive, recorded as a [`Seen`]
//! in a [`Recorder`] the tests read back.
use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, Method, Uri};
use serde_json::Value;

/// One request a mock received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    /// Lowercase names.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Seen {
    pub fn from_request(method: &Method, uri: &Uri, headers: &HeaderMap, body: String) -> Self {
        Self {
            method: method.to_string(),
            path: uri.path().to_string(),
            query: uri.query().map(str::to_string),
            headers: headers
                .iter()
                .map(|(n, v)| (n.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
                .collect(),
            body,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    pub fn is(&self, method: &str, path: &str) -> bool {
        self.method == method && self.path == path
    }

    /// The path and query exactly as received (what a signature's `(request-target)` covers).
    pub fn target(&self) -> String {
        match &self.query {
            Some(query) => format!("{}?{query}", self.path),
            None => self.path.clone(),
        }
    }

    /// The body as JSON; `Null` if it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    /// The body as a form.
    pub fn form(&self) -> Vec<(String, String)> {
        form_of(&self.body)
    }

    /// A field of the form body.
    pub fn field(&self, name: &str) -> Option<String> {
        self.form().into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    /// A parameter of the query.
    pub fn param(&self, name: &str) -> Option<String> {
        form_of(self.query.as_deref().unwrap_or("")).into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }
}

/// A handler's argument that is the request as received, for a double to record and read.
impl<S: Send + Sync> axum::extract::FromRequest<S> for Seen {
    type Rejection = std::convert::Infallible;

    async fn from_request(request: axum::extract::Request, _: &S) -> Result<Self, Self::Rejection> {
        let (parts, body) = request.into_parts();
        let body = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
        Ok(Seen::from_request(&parts.method, &parts.uri, &parts.headers, String::from_utf8_lossy(&body).into_owned()))
    }
}

/// The pairs of a form body or query, decoded.
fn form_of(text: &str) -> Vec<(String, String)> {
    let url = reqwest::Url::parse(&format!("http://form.invalid/?{text}")).expect("a form body");
    url.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

/// The requests a mock received, in order, shared between the mock and the test.
#[derive(Clone, Default)]
pub struct Recorder(Arc<Mutex<Vec<Seen>>>);

impl Recorder {
    /// Keeps `seen`, returning how many requests have been kept so far, it included.
    pub fn record(&self, seen: Seen) -> usize {
        let mut all = self.0.lock().unwrap();
        all.push(seen);
        all.len()
    }

    pub fn all(&self) -> Vec<Seen> {
        self.0.lock().unwrap().clone()
    }

    /// The one request to `method path`.
    pub fn only(&self, method: &str, path: &str) -> Seen {
        let seen: Vec<Seen> = self.all().into_iter().filter(|s| s.is(method, path)).collect();
        assert_eq!(seen.len(), 1, "{method} {path} was sent {} times: {seen:#?}", seen.len());
        seen.into_iter().next().unwrap()
    }
}
