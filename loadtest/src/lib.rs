//! axiom's open-loop QUIC load generator and capacity planner.
//!
//! [`generator::run`] drives a server with signed intents at a fixed or Poisson rate and
//! measures each request from its intended send time; [`capacity::search`] repeats short runs
//! to find the highest rate that meets a P95/P99 target. Reports are written by [`output`].

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod agents;
pub mod capacity;
pub mod config;
pub mod error;
pub mod expectations;
pub mod generator;
pub mod http;
pub mod intents;
pub mod metrics;
pub mod mix;
pub mod output;
pub mod progress;
pub mod recorder;
pub mod report;
pub mod schedule;
pub mod sources;

pub use agents::Agent;
pub use config::{RunConfig, SigningMode};
pub use error::{ConfigError, LoadtestError};
pub use generator::{run, RunOptions, RunOutcome};
pub use intents::ActorIdentity;
pub use mix::{Mix, Scenario};
pub use report::RunReport;
pub use schedule::Arrival;
