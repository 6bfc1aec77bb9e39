//! The SNTP protocol, free of I/O: timestamps, packets, reply validation, the
//! request schedule and the client state machine. Driven by explicit time.
pub mod client;
pub mod packet;
pub mod schedule;
pub mod timestamp;
pub mod validate;

#[cfg(test)]
mod client_tests;
