//! Roles of the control plane and the one table that grants permissions to roles.

use serde::{Deserialize, Serialize};

/// A role named in a bearer token's `roles` claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Manages agent keys, follows and closes incidents, changes settings.
    SecurityAdmin,
    /// Reads incidents and audit data, exports compliance and GDPR data, approves policies.
    ComplianceOfficer,
    /// Reviews escrowed actions and reads the state sources they depend on.
    Approver,
    /// Runs agent fleets and data feeds: sends decisions and source events.
    Operator,
    /// Runs the service: settings, source feeds, incidents, metrics.
    Sre,
}

impl Role {
    /// Every role, in declaration order.
    pub const ALL: [Role; 5] = [
        Role::SecurityAdmin,
        Role::ComplianceOfficer,
        Role::Approver,
        Role::Operator,
        Role::Sre,
    ];

    /// Returns the claim spelling, for example `securityadmin`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::SecurityAdmin => "securityadmin",
            Role::ComplianceOfficer => "complianceofficer",
            Role::Approver => "approver",
            Role::Operator => "operator",
            Role::Sre => "sre",
        }
    }

    /// Parses the claim spelling; None for a role this server does not know.
    pub fn parse(text: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|role| role.as_str() == text)
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An action a request performs; each handler demands exactly one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    /// Register, list, read, revoke and rotate agent keys.
    ManageKeys,
    /// List incidents.
    ReadIncidents,
    /// Acknowledge or resolve incidents.
    UpdateIncidents,
    /// Read runtime settings and their history.
    ReadSettings,
    /// Change runtime settings.
    WriteSettings,
    /// Push source freshness events.
    IngestSources,
    /// Read source ages.
    ReadSources,
    /// Ask for a decision over HTTP.
    Decide,
    /// Read escrows.
    ReadEscrows,
    /// Approve or cancel escrows.
    ApproveEscrows,
    /// Execute or roll back approved escrows.
    ExecuteEscrows,
    /// Create, submit, publish, retire, diff and evaluate policy versions.
    AuthorPolicies,
    /// Approve submitted policy versions.
    ApprovePolicies,
    /// Read audit records and replay decisions.
    ReadAudit,
    /// Export compliance data and serve GDPR requests.
    ComplianceExport,
    /// Grant or remove escrow approver roles in the tenant's approver pool.
    ManageApprovers,
}

/// The role matrix: for each permission, the roles that grant it. `docs/OPERATIONS.md` prints
/// the same table, and a test checks that the two agree.
pub const ROLE_MATRIX: &[(Permission, &[Role])] = &[
    (Permission::ManageKeys, &[Role::SecurityAdmin]),
    (
        Permission::ReadIncidents,
        &[Role::SecurityAdmin, Role::ComplianceOfficer, Role::Sre],
    ),
    (Permission::UpdateIncidents, &[Role::SecurityAdmin]),
    (
        Permission::ReadSettings,
        &[Role::SecurityAdmin, Role::ComplianceOfficer, Role::Sre],
    ),
    (Permission::WriteSettings, &[Role::SecurityAdmin, Role::Sre]),
    (Permission::IngestSources, &[Role::Operator, Role::Sre]),
    (
        Permission::ReadSources,
        &[Role::Operator, Role::Sre, Role::Approver],
    ),
    (Permission::Decide, &[Role::Operator]),
    (
        Permission::ReadEscrows,
        &[Role::Approver, Role::SecurityAdmin, Role::Sre],
    ),
    (Permission::ApproveEscrows, &[Role::Approver]),
    (Permission::ExecuteEscrows, &[Role::Operator, Role::Approver]),
    (
        Permission::AuthorPolicies,
        &[Role::SecurityAdmin, Role::ComplianceOfficer],
    ),
    (
        Permission::ApprovePolicies,
        &[Role::SecurityAdmin, Role::ComplianceOfficer],
    ),
    (
        Permission::ReadAudit,
        &[Role::SecurityAdmin, Role::ComplianceOfficer],
    ),
    (Permission::ComplianceExport, &[Role::ComplianceOfficer]),
    (Permission::ManageApprovers, &[Role::SecurityAdmin]),
];

impl Permission {
    /// Returns the roles that grant this permission (empty if the matrix omits it, which
    /// grants nothing).
    pub fn roles(self) -> &'static [Role] {
        ROLE_MATRIX
            .iter()
            .find(|(permission, _)| *permission == self)
            .map(|(_, roles)| *roles)
            .unwrap_or(&[])
    }

    /// Returns true when `role` grants this permission.
    pub fn granted_to(self, role: Role) -> bool {
        self.roles().contains(&role)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_spelling_round_trips() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
            let json = serde_json::to_string(&role).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", role.as_str()));
        }
        assert_eq!(Role::parse("root"), None);
    }

    #[test]
    fn matrix_lists_each_permission_once() {
        for (index, (permission, roles)) in ROLE_MATRIX.iter().enumerate() {
            assert!(!roles.is_empty(), "{permission:?} grants nothing");
            let repeats = ROLE_MATRIX[index + 1..]
                .iter()
                .filter(|(other, _)| other == permission)
                .count();
            assert_eq!(repeats, 0, "{permission:?} appears twice");
        }
    }
}
