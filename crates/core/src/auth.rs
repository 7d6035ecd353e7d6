//! Proof of who is asking: verification methods, one-time codes and
//! WebAuthn ceremonies, action tokens, the wrong-code throttle, the server
//! API's Basic credentials, the portal's sessions and the app's sessions
//! (`createSession`).

pub mod admin_session;
pub mod basic;
pub mod jws;
pub mod methods;
pub mod otp;
pub mod server_challenge;
pub mod session;
pub mod session_error;
pub mod throttle;
pub mod token;
pub mod webauthn;
