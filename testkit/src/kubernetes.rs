//! A stub Kubernetes API server on 127.0.0.1 serving the recorded `MCPServer` list
//! (`adapters/tests/data/kubernetes/mcpservers.json`), cluster-wide and per namespace, that can be
//! told to fail and counts the list requests it answers; and a kubeconfig pointing at it.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use poem::web::Data;
use poem::{EndpointExt as _, Response, Route, handler};
use serde_json::{Value, json};

use crate::{Loopback, workspace_root};

/// The token in the kubeconfig: it must never reach a response or a log.
pub const KUBE_TOKEN: &str = "S3cr3tKubeT0ken";

#[derive(Debug, Default)]
struct State {
    /// Answer every list with this status instead.
    failing: Mutex<Option<u16>>,
    lists: AtomicUsize,
}

/// The running stub.
#[derive(Debug)]
pub struct KubeStub {
    url: String,
    state: Arc<State>,
}

#[handler]
fn list(req: &poem::Request, Data(state): Data<&Arc<State>>) -> Response {
    state.lists.fetch_add(1, Ordering::SeqCst);
    if let Some(code) = *state.failing.lock().unwrap_or_else(PoisonError::into_inner) {
        return Response::builder()
            .status(poem::http::StatusCode::from_u16(code).unwrap_or(poem::http::StatusCode::INTERNAL_SERVER_ERROR))
            .content_type("application/json")
            .body(
                json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": "boom", "code": code})
                    .to_string(),
            );
    }
    let fixture = std::fs::read_to_string(workspace_root().join("adapters/tests/data/kubernetes/mcpservers.json"))
        .unwrap_or_default();
    let mut all: Value = serde_json::from_str(&fixture).unwrap_or_default();
    if let Some(ns) = req.uri().path().split("/namespaces/").nth(1).and_then(|r| r.split('/').next())
        && let Some(items) = all["items"].as_array_mut()
    {
        items.retain(|i| i["metadata"]["namespace"] == ns);
    }
    Response::builder().content_type("application/json").body(all.to_string())
}

impl KubeStub {
    pub async fn start() -> anyhow::Result<Self> {
        let state = Arc::new(State::default());
        let listener = Loopback::bind().await?;
        let url = format!("http://{}", listener.addr);
        let app = Route::new()
            .at("/apis/toolhive.stacklok.dev/v1alpha1/mcpservers", poem::get(list))
            .at("/apis/toolhive.stacklok.dev/v1alpha1/namespaces/:ns/mcpservers", poem::get(list))
            .data(state.clone());
        listener.serve(app);
        Ok(Self { url, state })
    }

    /// Answer every list with `status` (`None`: serve the fixture again).
    pub fn fail_with(&self, status: Option<u16>) {
        *self.state.failing.lock().unwrap_or_else(PoisonError::into_inner) = status;
    }

    /// How many list requests were answered.
    pub fn lists(&self) -> usize {
        self.state.lists.load(Ordering::SeqCst)
    }

    /// Writes a kubeconfig for the stub into `dir` and returns its path.
    pub fn kubeconfig(&self, dir: &Path) -> anyhow::Result<PathBuf> {
        let path = dir.join("kubeconfig");
        std::fs::write(
            &path,
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: stub\n  cluster:\n    server: {}\ncontexts:\n- name: stub\n  context:\n    cluster: stub\n    user: u\ncurrent-context: stub\nusers:\n- name: u\n  user:\n    token: {KUBE_TOKEN}\n",
                self.url
            ),
        )?;
        Ok(path)
    }
}
