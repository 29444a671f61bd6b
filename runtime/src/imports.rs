//! The host's side of the imports an adapter's contract grants (`http`, `keys`, `log`,
//! `types`), for one call's [`CallState`]: each checks what the call's grants allow, then
//! hands the work to `http` (the allowlist and the transport) or `keys` (the merchant's key
//! ring). `call`, `http` and `keys` know nothing of each other's imports.

use std::time::Instant;

use super::bindings::paygate::provider::http::{self, Request, Response};
use super::bindings::paygate::provider::keys::{self, Certificate, Cipher, SignatureAlgorithm};
use super::bindings::paygate::provider::log::{self, Level};
use super::bindings::paygate::provider::types;
use super::call::CallState;

impl http::Host for CallState {
    async fn send(&mut self, req: Request) -> Result<Response, http::Error> {
        let started = Instant::now();
        let result = super::http::send(
            &self.transport,
            &self.allowlist,
            &self.http_limits,
            &self.adapter,
            req,
        )
        .await;
        // Time spent waiting on the network is not the adapter's CPU time.
        self.host_time += started.elapsed();
        result
    }
}

impl CallState {
    /// Refuses a key name that the configuration of the merchant this call is for does not
    /// hold. The ring only ever holds that one merchant's secrets, so no name can reach
    /// another merchant's key. A secret the adapter declared but the merchant left out is
    /// an optional one (the shipped adapters probe for them), so it is only noted; any other
    /// name is a bug or a probe of the sandbox, which operators must see.
    fn held(&self, key: &str, op: &'static str) -> Result<(), keys::Error> {
        if self.keys.holds(key) {
            return Ok(());
        }
        if self.secret_names.iter().any(|declared| declared == key) {
            tracing::debug!(adapter = %self.adapter, key, op, "declared secret not configured");
        } else {
            tracing::warn!(
                adapter = %self.adapter,
                key,
                op,
                "adapter asked for a key it never declared; refused"
            );
        }
        Err(keys::Error::UnknownKey(key.to_owned()))
    }
}

impl keys::Host for CallState {
    async fn sign(
        &mut self,
        key: String,
        algorithm: SignatureAlgorithm,
        message: Vec<u8>,
    ) -> Result<Vec<u8>, keys::Error> {
        self.held(&key, "sign")?;
        self.keys.sign(&key, algorithm, &message)
    }

    async fn verify(
        &mut self,
        key: String,
        algorithm: SignatureAlgorithm,
        message: Vec<u8>,
        signature: Vec<u8>,
    ) -> Result<bool, keys::Error> {
        self.held(&key, "verify")?;
        self.keys.verify(&key, algorithm, &message, &signature)
    }

    async fn decrypt(
        &mut self,
        key: String,
        cipher: Cipher,
        nonce: Vec<u8>,
        associated_data: Vec<u8>,
        ciphertext: Vec<u8>,
    ) -> Result<Vec<u8>, keys::Error> {
        self.held(&key, "decrypt")?;
        self.keys
            .decrypt(&key, cipher, &nonce, &associated_data, &ciphertext)
    }

    async fn certificates(&mut self, key: String) -> Result<Vec<Certificate>, keys::Error> {
        self.held(&key, "certificates")?;
        self.keys.certificates(&key)
    }

    async fn verify_certificate(
        &mut self,
        key: String,
        serial: String,
        algorithm: SignatureAlgorithm,
        message: Vec<u8>,
        signature: Vec<u8>,
    ) -> Result<bool, keys::Error> {
        self.held(&key, "verify-certificate")?;
        self.keys
            .verify_certificate(&key, &serial, algorithm, &message, &signature)
    }
}

impl types::Host for CallState {}

impl log::Host for CallState {
    async fn log(&mut self, level: Level, message: String) {
        let adapter = self.adapter.as_str();
        match level {
            Level::Trace => tracing::trace!(adapter, "{message}"),
            Level::Debug => tracing::debug!(adapter, "{message}"),
            Level::Info => tracing::info!(adapter, "{message}"),
            Level::Warn => tracing::warn!(adapter, "{message}"),
            Level::Error => tracing::error!(adapter, "{message}"),
        }
    }
}
