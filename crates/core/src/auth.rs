//! Proof of who is asking: verification methods, one-time codes and
//! WebAuthn ceremonies, action tokens, the wrong-code throttle, the server
//! API's Basic credentials and the portal's sessions.

pub mod admin_session;
pub mod basic;
pub mod methods;
pub mod otp;
pub mod throttle;
pub mod token;
pub mod webauthn;
