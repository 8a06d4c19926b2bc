//! Placeholder until this module's code lands.
