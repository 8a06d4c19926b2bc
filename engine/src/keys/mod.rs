//! The key registry: which agent keys exist, for which tenant and actors, and whether they
//! may sign right now.

mod record;
mod registry;
mod rejection;

pub use record::{KeyRecord, KeyStatus, ANY_ACTOR, KID_LEN_MAX};
pub use registry::{KeyRegistry, RegistryError};
pub use rejection::KeyRejection;
