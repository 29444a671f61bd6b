//! Logging into paygate's log, which tags each line with the adapter, merchant, order and
//! payment of the current call. (Plain `println!`/`eprintln!` also reach the log.)

use crate::bindings::paygate::provider::log::{log, Level};

pub fn debug(message: &str) {
    log(Level::Debug, message);
}

pub fn info(message: &str) {
    log(Level::Info, message);
}

pub fn warn(message: &str) {
    log(Level::Warn, message);
}

pub fn error(message: &str) {
    log(Level::Error, message);
}
