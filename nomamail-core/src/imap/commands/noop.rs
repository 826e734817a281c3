//! NOOP and CHECK: nothing to do but let the session report what changed. Every change is
//! already durable when its command was answered, so CHECK has no checkpoint to make.

use crate::imap::reply::Outcome;

pub fn run() -> Outcome {
    Outcome::ok("completed")
}
