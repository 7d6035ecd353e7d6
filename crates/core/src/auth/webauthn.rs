//! WebAuthn (passkeys and security keys), relying-party side: the options a
//! browser needs for a ceremony, and the verification of what it answers.
//!
//! Registration (`navigator.credentials.create`) yields a credential: its id
//! and COSE public key, checked against the challenge we issued, the
//! relying party id and origins, the flags (user present, user verified when
//! required), and the attestation statement (`none`, or `packed`
//! self-attestation signed by the new key itself; we ask for `none`, which
//! browsers honour). Authentication (`navigator.credentials.get`) is checked
//! the same way, plus the assertion signature over
//! `authenticatorData ‖ SHA-256(clientDataJSON)` and the signature counter.
//!
//! Algorithms: ES256 (P-256), EdDSA (Ed25519) and RS256 (RSA PKCS#1 v1.5,
//! 2048 to 4096 bits). CBOR is read item by item with `minicbor`'s decoder
//! (the attestation object in `auth_data`, COSE keys in `cose`: maps of
//! definite length, each key once, nothing after them), signatures are
//! checked with `p256`, `ed25519-compact` and `rsa` — the same crates the
//! JWT verification of the edge proxy links, all pure Rust.
//!
//! The binary layout of `authenticatorData` (WebAuthn §6.1) is read here: 32
//! bytes rpIdHash, 1 byte flags, 4 bytes counter, then the attested
//! credential (AAGUID, id length, id, COSE key) and extensions when flagged.
//!
//! Challenges are not kept between the two steps of a ceremony: the options
//! step seals them, with what they are for, into a `challengeId` that only
//! this deployment can mint ([`CeremonyKeys`]); the user's store records each
//! challenge once used, so it verifies once ([`crate::store::UserStore::consume_challenge`]).

pub mod auth_data;
pub mod ceremony;
pub mod cose;
pub mod options;
pub mod verify;
pub mod wire;

pub use ceremony::{Ceremony, CeremonyKeys, Purpose};
pub use options::{UserEntity, creation_options, request_options};
pub use verify::{Expected, verify_authentication, verify_registration};
pub use wire::{
    ALG_EDDSA, ALG_ES256, ALG_RS256, Assertion, AssertionResponse, AttestationResponse,
    AuthenticationResponse, CEREMONY_TTL_SECS, RegistrationResponse, RelyingParty,
    SUPPORTED_ALGORITHMS, StoredCredential, UserVerification, WebAuthnError,
};

#[cfg(test)]
mod tests;
