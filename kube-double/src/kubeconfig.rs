//! The kubeconfig that points an ordinary client at the double.

/// Names used in the generated kubeconfig.
pub const CONTEXT: &str = "kube-double";

/// A kubeconfig for `url` (plain HTTP, a token the double ignores, namespace `default`).
pub fn render(url: &str) -> String {
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: {CONTEXT}
  cluster:
    server: {url}
users:
- name: {CONTEXT}
  user:
    token: kube-double-ignores-this-token
contexts:
- name: {CONTEXT}
  context:
    cluster: {CONTEXT}
    user: {CONTEXT}
    namespace: default
current-context: {CONTEXT}
preferences: {{}}
"
    )
}
