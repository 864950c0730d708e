//! AWS Systems Manager Parameter Store: parameters, versions, labels, tiers, policies and change events.

/// Parameter limits per account and Region. AWS's are 10,000 Standard and 100,000 Advanced; a
/// self-hosted operator may raise them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParameterQuotas {
    pub standard: u64,
    pub advanced: u64,
}

impl Default for ParameterQuotas {
    fn default() -> Self {
        Self {
            standard: 10_000,
            advanced: 100_000,
        }
    }
}

/// The Parameter Store service of one server.
#[derive(Debug)]
pub struct Ssm {
    quotas: ParameterQuotas,
}

impl Ssm {
    pub fn new(quotas: ParameterQuotas) -> Self {
        Self { quotas }
    }
}
