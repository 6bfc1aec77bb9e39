//! The SNTP protocol, free of I/O: timestamps, packets, reply validation,
//! symmetric-key MACs, NTS (its key-exchange records and extension fields),
//! the request schedule and the client state machine. Driven by explicit time.
#![forbid(unsafe_code)]

pub mod auth;
pub mod client;
pub mod nts;
pub mod nts_ke;
pub mod packet;
pub mod schedule;
pub mod timestamp;
pub mod validate;

#[cfg(test)]
mod client_tests;
