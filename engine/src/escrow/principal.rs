//! The authenticated person or service performing a control-plane operation.

use serde::{Deserialize, Serialize};

/// The person or service performing an operation, as authenticated by the control plane.
///
/// The state machines trust these fields: the caller must take them from a verified token,
/// never from the request body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    /// Principal id, unique within the tenant.
    pub id: String,
    /// Roles granted by the token, for example `complianceofficer`.
    pub roles: Vec<String>,
    /// Tenant the principal belongs to.
    pub tenant: String,
}

impl Principal {
    /// Returns true when the principal has at least one of `roles` (exact, case-sensitive match).
    pub fn holds_any(&self, roles: &[String]) -> bool {
        self.roles.iter().any(|held| roles.contains(held))
    }
}
