//! The key vault: secrets at rest (provider keys, webhook secrets) sealed with AES-256-GCM
//! under the master key, which comes from the environment or is generated once into the
//! data directory.

use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use rand::RngCore;
use zeroize::Zeroizing;

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("master key must be 64 hex digits")]
    BadMasterKey,
    #[error("cannot read or create the master key file {path}: {source}")]
    KeyFile {
        path: String,
        source: std::io::Error,
    },
    #[error("a sealed secret is corrupt or was sealed under another master key")]
    Unseal,
}

/// Seals and opens secrets. Cheap to clone.
#[derive(Clone)]
pub struct Vault {
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Vault([redacted])")
    }
}

impl Vault {
    pub fn from_hex(hex_key: &str) -> Result<Vault, VaultError> {
        let bytes =
            Zeroizing::new(hex::decode(hex_key.trim()).map_err(|_| VaultError::BadMasterKey)?);
        let cipher = Aes256Gcm::new_from_slice(&bytes).map_err(|_| VaultError::BadMasterKey)?;
        Ok(Vault { cipher })
    }

    /// Reads `dir/master.key`, creating it (mode 0600) with a fresh random key if missing.
    pub fn from_data_dir(dir: &Path) -> Result<Vault, VaultError> {
        let path = dir.join("master.key");
        let io = |source| VaultError::KeyFile {
            path: path.display().to_string(),
            source,
        };
        if !path.exists() {
            std::fs::create_dir_all(dir).map_err(io)?;
            let mut key = Zeroizing::new([0u8; 32]);
            rand::rngs::OsRng.fill_bytes(key.as_mut());
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            match options.open(&path) {
                Ok(mut f) => {
                    std::io::Write::write_all(&mut f, hex::encode(key.as_ref()).as_bytes())
                        .map_err(io)?
                }
                // Another process created it first: use theirs.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(io(e)),
            }
        }
        let text = Zeroizing::new(std::fs::read_to_string(&path).map_err(io)?);
        Vault::from_hex(&text)
    }

    /// Seals `plaintext`: base64 of a random 12-byte nonce followed by the ciphertext.
    pub fn seal(&self, plaintext: &str) -> String {
        let mut nonce = [0u8; 12];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        // Encryption with a valid key and a 12-byte nonce cannot fail.
        let ct = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), plaintext.as_bytes())
            .unwrap_or_default();
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        B64.encode(out)
    }

    pub fn open(&self, sealed: &str) -> Result<Zeroizing<String>, VaultError> {
        let bytes = B64.decode(sealed).map_err(|_| VaultError::Unseal)?;
        if bytes.len() < 12 + 16 {
            return Err(VaultError::Unseal);
        }
        let (nonce, ct) = bytes.split_at(12);
        let plain = self
            .cipher
            .decrypt(Nonce::from_slice(nonce), ct)
            .map_err(|_| VaultError::Unseal)?;
        String::from_utf8(plain)
            .map(Zeroizing::new)
            .map_err(|_| VaultError::Unseal)
    }
}

/// The text the master key's verifier seals. Any text would do (AES-GCM opens only under
/// the key that sealed); a fixed one is also compared, for a corrupt row.
const VERIFIER_TEXT: &str = "paygate master key verifier v1";

impl Vault {
    /// A fresh verifier of this key: [`Vault::opens_verifier`] of it is true for this key
    /// only.
    pub fn seal_verifier(&self) -> String {
        self.seal(VERIFIER_TEXT)
    }

    /// Whether `sealed` is a verifier sealed with this key.
    pub fn opens_verifier(&self, sealed: &str) -> bool {
        self.open(sealed)
            .is_ok_and(|text| text.as_str() == VERIFIER_TEXT)
    }
}

/// What start-up does about the master key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyVerdict {
    /// The stored verifier opens: this is the key the secrets were sealed with.
    Right,
    /// No verifier yet (a new database, or one from before verifiers), and the key opens
    /// every stored secret tried (or there is none): store a verifier of this key.
    WriteVerifier,
    /// The stored verifier does not open, but every stored secret tried does (or there is
    /// none): the verifier was written by a key that sealed nothing (a command run once
    /// with a mistyped key on a database without secrets). Replace it with this key's.
    ReplaceVerifier,
    /// The key does not open `what` (the verifier, or a stored secret): refuse to start.
    Wrong { what: String },
}

/// Decides [`KeyVerdict`] from whether the key opens the stored verifier (`None`: there is
/// none) and each sampled secret, as (where it is, whether it opens; only read when the
/// verifier is missing or does not open). The secrets decide: the verifier is the quick
/// answer, and a wrong one alone never locks a database whose secrets the key opens. Pure.
pub fn key_verdict(verifier_opens: Option<bool>, samples: &[(String, bool)]) -> KeyVerdict {
    if verifier_opens == Some(true) {
        return KeyVerdict::Right;
    }
    match (samples.iter().find(|(_, opens)| !opens), verifier_opens) {
        (Some((what, _)), _) => KeyVerdict::Wrong { what: what.clone() },
        (None, None) => KeyVerdict::WriteVerifier,
        (None, Some(_)) => KeyVerdict::ReplaceVerifier,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_right_when_it_opens_the_verifier_whatever_the_secrets() {
        assert_eq!(key_verdict(Some(true), &[]), KeyVerdict::Right);
        assert_eq!(
            key_verdict(Some(true), &[("a secret".into(), false)]),
            KeyVerdict::Right
        );
    }

    #[test]
    fn a_verifier_that_does_not_open_is_replaced_only_when_the_key_opens_every_secret() {
        assert_eq!(key_verdict(Some(false), &[]), KeyVerdict::ReplaceVerifier);
        assert_eq!(
            key_verdict(Some(false), &[("a secret".into(), true)]),
            KeyVerdict::ReplaceVerifier
        );
        assert_eq!(
            key_verdict(Some(false), &[("w".into(), true), ("p".into(), false)]),
            KeyVerdict::Wrong { what: "p".into() }
        );
    }

    #[test]
    fn without_a_verifier_one_is_written_only_for_a_key_that_opens_the_stored_secrets() {
        assert_eq!(key_verdict(None, &[]), KeyVerdict::WriteVerifier);
        assert_eq!(
            key_verdict(None, &[("w".into(), true), ("p".into(), true)]),
            KeyVerdict::WriteVerifier
        );
        assert_eq!(
            key_verdict(None, &[("w".into(), true), ("p".into(), false)]),
            KeyVerdict::Wrong { what: "p".into() }
        );
    }

    #[test]
    fn a_verifier_opens_under_its_own_key_only() {
        let a = Vault::from_hex(&"11".repeat(32)).expect("key");
        let b = Vault::from_hex(&"22".repeat(32)).expect("key");
        let verifier = a.seal_verifier();
        assert!(a.opens_verifier(&verifier));
        assert!(!b.opens_verifier(&verifier));
        assert!(!a.opens_verifier(&a.seal("another text")));
    }

    #[test]
    fn sealed_secrets_open_only_under_the_same_master_key() {
        let a = Vault::from_hex(&"11".repeat(32)).expect("key");
        let b = Vault::from_hex(&"22".repeat(32)).expect("key");
        let sealed = a.seal("-----BEGIN PRIVATE KEY-----");
        assert!(!sealed.contains("PRIVATE"));
        assert_eq!(
            a.open(&sealed).expect("open").as_str(),
            "-----BEGIN PRIVATE KEY-----"
        );
        assert!(matches!(b.open(&sealed), Err(VaultError::Unseal)));
        assert!(matches!(a.open("garbage"), Err(VaultError::Unseal)));
        assert_ne!(a.seal("x"), a.seal("x"), "fresh nonce every time");
    }

    #[test]
    fn master_key_is_generated_once_into_the_data_dir() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = Vault::from_data_dir(dir.path()).expect("create");
        let sealed = first.seal("s");
        let second = Vault::from_data_dir(dir.path()).expect("read");
        assert_eq!(second.open(&sealed).expect("same key").as_str(), "s");
        assert!(matches!(
            Vault::from_hex("abc"),
            Err(VaultError::BadMasterKey)
        ));
    }
}
