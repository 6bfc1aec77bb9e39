//! The C ABI: Aculab's types and six functions, the handle registry, the
//! trace, and the panic boundary. All `unsafe` for C pointers lives here.
pub mod api;
mod entry;
pub mod error;
pub mod ext;
pub mod ext_types;
pub mod registry;
pub mod trace;
pub mod types;
