//! keyhaven-bench: what the closed-loop load generators (`kms-bench`, `ssm-bench`, `secrets-bench`) share: the command
//! line's common options and the `main` driver, the SigV4-signing awsJson client, seeding, the closed loop itself and
//! the statistics.

pub mod cli;
pub mod client;
pub mod load;
pub mod seed;
pub mod stats;
