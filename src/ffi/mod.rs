pub mod types;
pub mod api;
