//! The audit trail of writes: one structured event per write on the [`AUDIT_TARGET`] log target,
//! and `registry_writes_total{action, outcome}` in the metrics. Never the token: the caller is
//! named by its issuer and subject only.

/// Log target of audit events (filter on it, e.g. `RUST_LOG=info,audit=info`).
pub const AUDIT_TARGET: &str = "audit";

/// The message of every audit event (JSON log lines carry it as `fields.message`; the target is
/// not in them).
pub const AUDIT_MESSAGE: &str = "audit";

/// One write, as audited.
#[derive(Debug, Clone, Copy)]
pub struct AuditEvent<'a> {
    /// `iss` of the caller's token (`None`: no token).
    pub issuer: Option<&'a str>,
    /// `sub` of the caller's token (`None`: no token).
    pub subject: Option<&'a str>,
    /// The registry addressed (`None`: it could not be told).
    pub registry: Option<&'a str>,
    /// The managed source written (`None`: none was reached).
    pub source: Option<&'a str>,
    pub name: Option<&'a str>,
    /// `None`: every version of the name, or none was named.
    pub version: Option<&'a str>,
    /// `publish`, `edit`, `status`, `delete`.
    pub action: &'static str,
    /// `success`, `denied` (who may not write), `refused` (what may not be written), `failed`.
    pub outcome: &'static str,
    /// The HTTP status answered.
    pub status: u16,
    /// Why it did not succeed.
    pub reason: Option<&'a str>,
}

/// Records one write.
pub fn record(e: &AuditEvent<'_>) {
    tracing::info!(
        target: AUDIT_TARGET,
        iss = e.issuer,
        sub = e.subject,
        registry = e.registry,
        source.name = e.source,
        server.name = e.name,
        server.version = e.version,
        action = e.action,
        outcome = e.outcome,
        http.status = e.status,
        reason = e.reason,
        "{AUDIT_MESSAGE}"
    );
    super::metrics::write(e.action, e.outcome);
}
