//! Parameters and secrets delivered into programs: references to them, templates of CloudFormation dynamic
//! references, and fetching their values from Parameter Store and Secrets Manager with the caller's credentials.

pub mod agent;
pub mod reference;
pub mod resolver;

pub use reference::Reference;
pub use resolver::Resolver;
