//! The scenarios a load run sends and the weighted mix that picks among them.

use crate::error::ConfigError;
use rand::Rng;
use serde::Serialize;
use std::fmt;
use std::str::FromStr;

/// One kind of request, built so the demo finance policy answers it a known way.
///
/// The expected answer of each scenario is in [`crate::expectations`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scenario {
    /// A one-cent payment inside the budget, by an agent with the operator role.
    Allow,
    /// An allow payment whose certificate has no rollback plan, so it must wait for approval.
    Escrow,
    /// An action that breaks a hard rule of the policy.
    Deny,
    /// A refund that needs a source the harness never refreshes.
    Stale,
    /// A payment whose uncertainty interval straddles the remaining budget.
    Uncertain,
    /// A certificate that the server has already accepted, sent again.
    Replay,
    /// A correctly built request with one bit of its signature flipped.
    Forged,
}

impl Scenario {
    /// Every scenario, in report order.
    pub const ALL: [Scenario; 7] = [
        Scenario::Allow,
        Scenario::Escrow,
        Scenario::Deny,
        Scenario::Stale,
        Scenario::Uncertain,
        Scenario::Replay,
        Scenario::Forged,
    ];

    /// Returns the name used on the command line and in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Scenario::Allow => "allow",
            Scenario::Escrow => "escrow",
            Scenario::Deny => "deny",
            Scenario::Stale => "stale",
            Scenario::Uncertain => "uncertain",
            Scenario::Replay => "replay",
            Scenario::Forged => "forged",
        }
    }

    /// Returns the position of this scenario in [`Scenario::ALL`], for per-scenario arrays.
    pub fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scenario {
    type Err = ConfigError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Scenario::ALL
            .into_iter()
            .find(|scenario| scenario.as_str() == text)
            .ok_or_else(|| ConfigError::UnknownScenario(text.to_owned()))
    }
}

/// Largest weight of one scenario; keeps the sum of weights far from overflow.
pub const MIX_WEIGHT_MAX: u32 = 1_000_000;

/// Weights of the scenarios, parsed from `allow=70,escrow=10,...`.
///
/// Invariant: at least one weight is above zero, so [`Mix::pick`] always has a choice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mix {
    /// Weight per scenario, indexed by [`Scenario::index`].
    weights: [u32; Scenario::ALL.len()],
    /// Sum of `weights`, above zero.
    total: u32,
}

impl Mix {
    /// Builds a mix from `(scenario, weight)` pairs; scenarios not named get weight 0.
    pub fn new(pairs: &[(Scenario, u32)]) -> Result<Mix, ConfigError> {
        let mut weights = [0u32; Scenario::ALL.len()];
        for &(scenario, weight) in pairs {
            if weight > MIX_WEIGHT_MAX {
                return Err(ConfigError::MixWeightTooLarge { scenario, weight });
            }
            weights[scenario.index()] = weight;
        }

        let total: u32 = weights.iter().sum();
        if total == 0 {
            return Err(ConfigError::EmptyMix);
        }
        Ok(Mix { weights, total })
    }

    /// Returns the weight of one scenario.
    pub fn weight(&self, scenario: Scenario) -> u32 {
        self.weights[scenario.index()]
    }

    /// Returns the fraction of requests that should be of this scenario.
    pub fn share(&self, scenario: Scenario) -> f64 {
        f64::from(self.weight(scenario)) / f64::from(self.total)
    }

    /// Returns the scenarios with a weight above zero.
    pub fn active(&self) -> impl Iterator<Item = Scenario> + '_ {
        Scenario::ALL
            .into_iter()
            .filter(|scenario| self.weight(*scenario) > 0)
    }

    /// Picks a scenario with probability proportional to its weight.
    pub fn pick(&self, rng: &mut impl Rng) -> Scenario {
        let mut ticket = rng.gen_range(0..self.total);
        for scenario in Scenario::ALL {
            let weight = self.weights[scenario.index()];
            if ticket < weight {
                return scenario;
            }
            ticket -= weight;
        }
        // Unreachable while the invariant `total == sum(weights)` holds; Allow is a safe answer.
        Scenario::Allow
    }
}

impl Default for Mix {
    /// The mix from the operator documentation: mostly allowed traffic with every kind of rejection.
    fn default() -> Self {
        Mix {
            weights: [70, 10, 5, 5, 5, 3, 2],
            total: 100,
        }
    }
}

impl FromStr for Mix {
    type Err = ConfigError;

    /// Parses `allow=70,escrow=10`; each scenario may appear once.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut pairs: Vec<(Scenario, u32)> = Vec::new();
        for item in text.split(',').map(str::trim).filter(|item| !item.is_empty()) {
            let Some((name, weight)) = item.split_once('=') else {
                return Err(ConfigError::InvalidMixItem(item.to_owned()));
            };
            let scenario: Scenario = name.trim().parse()?;
            let weight: u32 = weight
                .trim()
                .parse()
                .map_err(|_| ConfigError::InvalidMixItem(item.to_owned()))?;
            if pairs.iter().any(|(seen, _)| *seen == scenario) {
                return Err(ConfigError::DuplicateScenario(scenario));
            }
            pairs.push((scenario, weight));
        }
        Mix::new(&pairs)
    }
}

impl fmt::Display for Mix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .active()
            .map(|scenario| format!("{scenario}={}", self.weight(scenario)))
            .collect();
        f.write_str(&parts.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn mix_parses_documented_example() {
        let mix: Mix = "allow=70,escrow=10,deny=5,stale=5,uncertain=5,replay=3,forged=2"
            .parse()
            .unwrap();
        assert_eq!(mix, Mix::default());
        assert_eq!(mix.to_string(), "allow=70,escrow=10,deny=5,stale=5,uncertain=5,replay=3,forged=2");
    }

    #[test]
    fn mix_rejects_bad_items() {
        assert_eq!("allow".parse::<Mix>(), Err(ConfigError::InvalidMixItem("allow".into())));
        assert_eq!("allow=x".parse::<Mix>(), Err(ConfigError::InvalidMixItem("allow=x".into())));
        assert_eq!("pay=1".parse::<Mix>(), Err(ConfigError::UnknownScenario("pay".into())));
        assert_eq!("allow=0".parse::<Mix>(), Err(ConfigError::EmptyMix));
        assert_eq!(
            "allow=1,allow=2".parse::<Mix>(),
            Err(ConfigError::DuplicateScenario(Scenario::Allow))
        );
        assert!("allow=2000000".parse::<Mix>().is_err());
    }

    #[test]
    fn pick_follows_weights() {
        let mix: Mix = "allow=80,forged=20".parse().unwrap();
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut counts = [0u32; Scenario::ALL.len()];
        for _ in 0..100_000 {
            counts[mix.pick(&mut rng).index()] += 1;
        }
        assert_eq!(counts[Scenario::Deny.index()], 0);
        let allow_share = f64::from(counts[Scenario::Allow.index()]) / 100_000.0;
        assert!((allow_share - 0.8).abs() < 0.01, "allow share {allow_share}");
        assert_eq!(counts[Scenario::Allow.index()] + counts[Scenario::Forged.index()], 100_000);
    }
}
