//! The key vault: secrets at rest (provider keys, webhook secrets) sealed with AES-256-GCM
//! under the master key, which comes from the environment or is generated once into the
//! data directory. The vault holds the current key, which seals, and any previous keys,
//! which only open: every sealed value names the key that sealed it (`pg1.<key id>.<base64>`),
//! so rotating the key is re-sealing value by value while every instance opens both.

use std::path::Path;
use std::sync::Arc;

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use rand::RngCore;
use sha2::{Digest, Sha256};
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

/// The file of the embedded setting's master key, in the data directory.
pub const KEY_FILE: &str = "master.key";
/// The embedded setting's previous master keys (one per line), in the data directory: they
/// open what they sealed, and never seal.
pub const PREVIOUS_KEY_FILE: &str = "master.key.previous";

/// The tag of sealed values that name their key; values without it are from before keys
/// had ids (base64 alone) and open with whichever held key sealed them.
const FORMAT: &str = "pg1";

/// One master key: its id (8 hex digits of a SHA-256 of the key, which names it without
/// revealing it) and its cipher.
#[derive(Clone)]
struct MasterKey {
    id: String,
    cipher: Aes256Gcm,
}

impl MasterKey {
    fn from_hex(hex_key: &str) -> Result<MasterKey, VaultError> {
        let bytes =
            Zeroizing::new(hex::decode(hex_key.trim()).map_err(|_| VaultError::BadMasterKey)?);
        let cipher = Aes256Gcm::new_from_slice(&bytes).map_err(|_| VaultError::BadMasterKey)?;
        let mut hasher = Sha256::new();
        hasher.update(b"paygate master key id\0");
        hasher.update(bytes.as_slice());
        let id = hex::encode(&hasher.finalize()[..4]);
        Ok(MasterKey { id, cipher })
    }
}

/// Seals and opens secrets. Cheap to clone.
#[derive(Clone)]
pub struct Vault {
    /// The current key first (it seals), then the previous ones (they only open).
    keys: Arc<Vec<MasterKey>>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Vault([redacted])")
    }
}

/// A sealed value split into the id of the key that sealed it (`None`: the old format,
/// which does not say) and its base64 body. Pure.
pub fn split_sealed(sealed: &str) -> (Option<&str>, &str) {
    let mut parts = sealed.splitn(3, '.');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(FORMAT), Some(id), Some(body)) => (Some(id), body),
        _ => (None, sealed),
    }
}

/// Which held keys (indexes into `held`, the current one first) to try on a value sealed
/// by `sealed_by`: the key it names, or none when no held key has that id; every held key,
/// current first, for a value of the old format. Pure.
pub fn keys_to_try(sealed_by: Option<&str>, held: &[&str]) -> Vec<usize> {
    match sealed_by {
        Some(id) => held.iter().position(|h| *h == id).into_iter().collect(),
        None => (0..held.len()).collect(),
    }
}

/// Whether `sealed` must be sealed again to be under the key `current`: it names another
/// key, or none. Pure.
pub fn needs_reseal(sealed: &str, current: &str) -> bool {
    split_sealed(sealed).0 != Some(current)
}

/// Reads a list of hex keys separated by commas or line breaks (blank entries ignored).
fn parse_key_list(text: &str) -> Result<Vec<MasterKey>, VaultError> {
    text.split([',', '\n'])
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(MasterKey::from_hex)
        .collect()
}

impl Vault {
    pub fn from_hex(hex_key: &str) -> Result<Vault, VaultError> {
        Ok(Vault {
            keys: Arc::new(vec![MasterKey::from_hex(hex_key)?]),
        })
    }

    /// This vault also opening with `previous` (hex keys, separated by commas or line
    /// breaks); it still seals with its current key. A previous key equal to the current
    /// one, or given twice, is held once.
    pub fn with_previous(self, previous: &str) -> Result<Vault, VaultError> {
        let mut keys = (*self.keys).clone();
        for key in parse_key_list(previous)? {
            if !keys.iter().any(|k| k.id == key.id) {
                keys.push(key);
            }
        }
        Ok(Vault {
            keys: Arc::new(keys),
        })
    }

    /// Reads `dir/master.key`, creating it (mode 0600) with a fresh random key if missing,
    /// and the previous keys of `dir/master.key.previous` if that file exists.
    pub fn from_data_dir(dir: &Path) -> Result<Vault, VaultError> {
        let path = dir.join(KEY_FILE);
        let io = |source| VaultError::KeyFile {
            path: path.display().to_string(),
            source,
        };
        if !path.exists() {
            std::fs::create_dir_all(dir).map_err(io)?;
            match write_new_key(&path, false) {
                Ok(()) => {}
                // Another process created it first: use theirs.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(io(e)),
            }
        }
        let text = Zeroizing::new(std::fs::read_to_string(&path).map_err(io)?);
        let vault = Vault::from_hex(&text)?;
        let previous_path = dir.join(PREVIOUS_KEY_FILE);
        match std::fs::read_to_string(&previous_path) {
            Ok(previous) => vault.with_previous(&Zeroizing::new(previous)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(vault),
            Err(source) => Err(VaultError::KeyFile {
                path: previous_path.display().to_string(),
                source,
            }),
        }
    }

    /// `paygate keys rotate --generate` in the embedded setting: appends the current
    /// `dir/master.key` to `dir/master.key.previous` (first, so the old key is never lost),
    /// then replaces `master.key` with a fresh random key. The vault of the directory is
    /// then the new key with the old ones as previous.
    pub fn generate_in_data_dir(dir: &Path) -> Result<Vault, VaultError> {
        let path = dir.join(KEY_FILE);
        let previous_path = dir.join(PREVIOUS_KEY_FILE);
        let io = |path: &Path| {
            let path = path.display().to_string();
            move |source| VaultError::KeyFile { path, source }
        };
        let old = Zeroizing::new(std::fs::read_to_string(&path).map_err(io(&path))?);
        MasterKey::from_hex(&old)?;
        let mut options = std::fs::OpenOptions::new();
        options.append(true).create(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&previous_path).map_err(io(&previous_path))?;
        std::io::Write::write_all(&mut file, format!("{}\n", old.trim()).as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(io(&previous_path))?;
        // Written beside, then renamed over: a crash leaves the old key or the new one.
        let fresh = dir.join(format!("{KEY_FILE}.new"));
        let _ = std::fs::remove_file(&fresh);
        write_new_key(&fresh, true).map_err(io(&fresh))?;
        std::fs::rename(&fresh, &path).map_err(io(&path))?;
        Vault::from_data_dir(dir)
    }

    /// The id of the key that seals (8 hex digits).
    pub fn key_id(&self) -> &str {
        &self.keys[0].id
    }

    /// The ids of every key held, the current one first.
    pub fn key_ids(&self) -> Vec<&str> {
        self.keys.iter().map(|k| k.id.as_str()).collect()
    }

    /// Seals `plaintext` under the current key: `pg1.<key id>.` then base64 of a random
    /// 12-byte nonce followed by the ciphertext.
    pub fn seal(&self, plaintext: &str) -> String {
        let key = &self.keys[0];
        let mut nonce = [0u8; 12];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        // Encryption with a valid key and a 12-byte nonce cannot fail.
        let ct = key
            .cipher
            .encrypt(Nonce::from_slice(&nonce), plaintext.as_bytes())
            .unwrap_or_default();
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        format!("{FORMAT}.{}.{}", key.id, B64.encode(out))
    }

    /// Opens a value sealed by any key this vault holds (see [`keys_to_try`]).
    pub fn open(&self, sealed: &str) -> Result<Zeroizing<String>, VaultError> {
        let (by, body) = split_sealed(sealed);
        let bytes = B64.decode(body).map_err(|_| VaultError::Unseal)?;
        if bytes.len() < 12 + 16 {
            return Err(VaultError::Unseal);
        }
        let (nonce, ct) = bytes.split_at(12);
        let held = self.key_ids();
        for i in keys_to_try(by, &held) {
            if let Ok(plain) = self.keys[i].cipher.decrypt(Nonce::from_slice(nonce), ct) {
                return String::from_utf8(plain)
                    .map(Zeroizing::new)
                    .map_err(|_| VaultError::Unseal);
            }
        }
        Err(VaultError::Unseal)
    }

    /// `sealed` sealed again under the current key; `None` when it already is.
    pub fn reseal(&self, sealed: &str) -> Result<Option<String>, VaultError> {
        if !needs_reseal(sealed, self.key_id()) {
            return Ok(None);
        }
        Ok(Some(self.seal(&self.open(sealed)?)))
    }
}

/// Writes a fresh random key, hex, to a new file at `path` (mode 0600).
fn write_new_key(path: &Path, sync: bool) -> std::io::Result<()> {
    let mut key = Zeroizing::new([0u8; 32]);
    rand::rngs::OsRng.fill_bytes(key.as_mut());
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options.open(path)?;
    std::io::Write::write_all(&mut f, hex::encode(key.as_ref()).as_bytes())?;
    if sync {
        f.sync_all()?;
    }
    Ok(())
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

    /// Whether `sealed` is a verifier sealed with a key this vault holds (the current one or
    /// a previous one: during a rotation the verifier is under either).
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

    const K1: &str = "1111111111111111111111111111111111111111111111111111111111111111";
    const K2: &str = "2222222222222222222222222222222222222222222222222222222222222222";

    #[test]
    fn a_sealed_value_names_the_key_that_sealed_it() {
        let a = Vault::from_hex(K1).expect("key");
        let sealed = a.seal("s");
        let (by, body) = split_sealed(&sealed);
        assert_eq!(by, Some(a.key_id()));
        assert_eq!(a.key_id().len(), 8);
        assert!(!body.contains('.'));
        assert_ne!(a.key_id(), Vault::from_hex(K2).expect("key").key_id());
        assert!(!K1.contains(a.key_id()), "the id does not reveal the key");
        assert_eq!(split_sealed("AAAA+/=="), (None, "AAAA+/=="));
    }

    #[test]
    fn a_named_key_is_the_only_one_tried_and_the_old_format_tries_every_key_current_first() {
        let held = ["aaaa0000", "bbbb1111", "cccc2222"];
        assert_eq!(keys_to_try(Some("bbbb1111"), &held), vec![1]);
        assert_eq!(keys_to_try(Some("dddd3333"), &held), Vec::<usize>::new());
        assert_eq!(keys_to_try(None, &held), vec![0, 1, 2]);
        assert_eq!(keys_to_try(None, &[]), Vec::<usize>::new());
    }

    #[test]
    fn only_values_not_under_the_current_key_need_sealing_again() {
        assert!(!needs_reseal("pg1.aaaa0000.xyz", "aaaa0000"));
        assert!(needs_reseal("pg1.bbbb1111.xyz", "aaaa0000"));
        assert!(needs_reseal("bGVnYWN5", "aaaa0000"));
    }

    #[test]
    fn a_vault_with_a_previous_key_opens_both_and_seals_with_the_current_one() {
        let old = Vault::from_hex(K1).expect("key");
        let before = old.seal("webhook secret");
        let legacy = {
            // The format of values sealed before keys had ids: base64 alone.
            let (_, body) = split_sealed(&before);
            body.to_owned()
        };
        let both = Vault::from_hex(K2)
            .and_then(|v| v.with_previous(&format!(" {K1} ,{K2}")))
            .expect("keys");
        assert_eq!(both.key_ids().len(), 2, "the current key is not held twice");
        assert_eq!(both.open(&before).expect("old").as_str(), "webhook secret");
        assert_eq!(
            both.open(&legacy).expect("legacy").as_str(),
            "webhook secret"
        );
        let after = both.reseal(&before).expect("opens").expect("resealed");
        assert_eq!(split_sealed(&after).0, Some(both.key_id()));
        assert_eq!(both.reseal(&after).expect("opens"), None, "idempotent");
        assert!(matches!(old.open(&after), Err(VaultError::Unseal)));
        assert!(both.opens_verifier(&old.seal_verifier()));
    }

    #[test]
    fn generating_a_key_in_the_data_dir_keeps_the_old_one_as_previous() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = Vault::from_data_dir(dir.path()).expect("create");
        let sealed = first.seal("s");
        let rotated = Vault::generate_in_data_dir(dir.path()).expect("generate");
        assert_ne!(rotated.key_id(), first.key_id());
        assert_eq!(rotated.key_ids()[1], first.key_id());
        assert_eq!(rotated.open(&sealed).expect("old value").as_str(), "s");
        let again = Vault::from_data_dir(dir.path()).expect("read");
        assert_eq!(again.key_ids(), rotated.key_ids());
    }

    #[test]
    fn at_start_a_vault_holding_the_new_and_the_old_key_is_right_before_and_after_rotation() {
        let old = Vault::from_hex(K1).expect("key");
        let new_only = Vault::from_hex(K2).expect("key");
        let both = Vault::from_hex(K2)
            .and_then(|v| v.with_previous(K1))
            .expect("keys");
        let verdict = |vault: &Vault, verifier: &str, secret: &str| {
            key_verdict(
                Some(vault.opens_verifier(verifier)),
                &[("a secret".into(), vault.open(secret).is_ok())],
            )
        };
        // Before the rotation: everything is under the old key.
        let (verifier, secret) = (old.seal_verifier(), old.seal("s"));
        assert_eq!(verdict(&both, &verifier, &secret), KeyVerdict::Right);
        assert_eq!(verdict(&old, &verifier, &secret), KeyVerdict::Right);
        assert_eq!(
            verdict(&new_only, &verifier, &secret),
            KeyVerdict::Wrong {
                what: "a secret".into()
            }
        );
        // After: everything re-sealed under the new key; the old key alone no longer starts.
        let verifier = both.reseal(&verifier).expect("opens").expect("resealed");
        let secret = both.reseal(&secret).expect("opens").expect("resealed");
        assert_eq!(verdict(&both, &verifier, &secret), KeyVerdict::Right);
        assert_eq!(verdict(&new_only, &verifier, &secret), KeyVerdict::Right);
        assert!(matches!(
            verdict(&old, &verifier, &secret),
            KeyVerdict::Wrong { .. }
        ));
    }
}
