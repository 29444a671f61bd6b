//! Which platform key signs what WeChat sends: the WeChat Pay public key (`PUB_KEY_ID_...`),
//! the platform certificate (a 40-hex-digit serial), or, while a merchant migrates from the
//! certificate to the public key, either. The rules are pure functions (unit-tested); the
//! keys themselves are loaded once, when the simulator starts.

use std::fmt;
use std::str::FromStr;

use anyhow::Context;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey};
use rsa::sha2::Sha256;
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde::{Deserialize, Serialize};

use super::certificate::{self, CertificateInfo};
use super::SimConfig;

/// How merchants verify this WeChat (`SimConfig::verification`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verification {
    /// The WeChat Pay public key only (accounts opened since late 2024): everything is
    /// signed with it, `Wechatpay-Serial: PUB_KEY_ID_...`, and `GET /v3/certificates`
    /// answers 404.
    #[default]
    PublicKey,
    /// Platform certificates only: everything is signed with the certificate's key,
    /// `Wechatpay-Serial: <certificate serial>`.
    Certificate,
    /// Switching from the certificate to the public key: both are valid. Answers are signed
    /// with the public key only when the request names it in `Wechatpay-Serial`;
    /// notifications come signed by either (the `notification_signer` knob).
    Migration,
}

impl Verification {
    /// Whether a platform certificate exists in this mode.
    pub fn has_certificate(self) -> bool {
        matches!(self, Verification::Certificate | Verification::Migration)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Verification::PublicKey => "public-key",
            Verification::Certificate => "certificate",
            Verification::Migration => "migration",
        }
    }
}

impl fmt::Display for Verification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Verification {
    type Err = String;

    /// `public-key`, `certificate` or `migration` (the binary's `--verification`).
    fn from_str(text: &str) -> Result<Verification, String> {
        [
            Verification::PublicKey,
            Verification::Certificate,
            Verification::Migration,
        ]
        .into_iter()
        .find(|v| v.as_str() == text)
        .ok_or_else(|| format!("`{text}` is not public-key, certificate or migration"))
    }
}

/// Which key signs notifications in the migration mode (the `notification_signer` knob);
/// the other modes have one key only and ignore it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationSigner {
    /// Certificate, public key, certificate... one key per attempt, in turn (retries too).
    #[default]
    Alternate,
    PublicKey,
    Certificate,
}

/// One of the platform's keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signer {
    PublicKey,
    Certificate,
}

/// The key that signs an API answer, given the request's `Wechatpay-Serial` header.
///
/// Source: developers.weixin.qq.com/community/pay/doc/000a2456f08f80e3a0f2f10f461400 (staff:
/// during the switch the merchant picks the answers' key by sending the public key id in
/// the `Wechatpay-Serial` request header; without it, the platform certificate signs) and
/// developers.weixin.qq.com/community/develop/doc/0004e8c40b09182972936db6d69400 (until the
/// switch has started, the certificate signs even if the public key id is sent).
pub fn answer_signer(
    mode: Verification,
    request_serial: Option<&str>,
    public_key_id: &str,
) -> Signer {
    match mode {
        Verification::PublicKey => Signer::PublicKey,
        Verification::Certificate => Signer::Certificate,
        Verification::Migration if request_serial == Some(public_key_id) => Signer::PublicKey,
        Verification::Migration => Signer::Certificate,
    }
}

/// The key that signs notification attempt number `attempt` (0-based, counted over the
/// whole simulator).
///
/// Source: developers.weixin.qq.com/community/pay/doc/000a2456f08f80e3a0f2f10f461400 and
/// pay/doc/000a4e6c9a00209af2335313c61400 (staff: WeChat moves callbacks to the public key
/// gradually, 0.1% to 100% over 7 days, so both kinds arrive; the callback's
/// `Wechatpay-Serial` says which key signed).
pub fn notification_signer(mode: Verification, knob: NotificationSigner, attempt: u64) -> Signer {
    match (mode, knob) {
        (Verification::PublicKey, _) => Signer::PublicKey,
        (Verification::Certificate, _) => Signer::Certificate,
        (Verification::Migration, NotificationSigner::PublicKey) => Signer::PublicKey,
        (Verification::Migration, NotificationSigner::Certificate) => Signer::Certificate,
        (Verification::Migration, NotificationSigner::Alternate) if attempt.is_multiple_of(2) => {
            Signer::Certificate
        }
        (Verification::Migration, NotificationSigner::Alternate) => Signer::PublicKey,
    }
}

/// A serial that names no key of this WeChat, of the same kind as `signer`'s (for the
/// `wrong_serial` fault).
pub fn foreign_serial(signer: Signer) -> &'static str {
    match signer {
        Signer::PublicKey => "PUB_KEY_ID_0000000000000000000000000000",
        Signer::Certificate => "7D1C3A90B2E4F6051827364554637281900AABBC",
    }
}

/// The platform's signing keys, as the configuration gives them.
pub struct PlatformKeys {
    public_key: SigningKey<Sha256>,
    public_key_id: String,
    /// Only in the modes that have a certificate.
    certificate: Option<PlatformCertificate>,
}

/// The platform certificate and its private key.
pub struct PlatformCertificate {
    pub key: SigningKey<Sha256>,
    pub serial: String,
    pub pem: String,
    pub info: CertificateInfo,
}

impl PlatformKeys {
    /// Reads the configuration's keys; in the modes with a certificate, checks that the
    /// certificate, its private key and `platform_certificate_serial` belong together.
    pub fn load(config: &SimConfig) -> anyhow::Result<PlatformKeys> {
        let public_key = SigningKey::from_pkcs8_pem(&config.platform_private_key_pem)
            .context("platform private key")?;
        let certificate = if config.verification.has_certificate() {
            Some(load_certificate(config)?)
        } else {
            None
        };
        Ok(PlatformKeys {
            public_key,
            public_key_id: config.platform_public_key_id.clone(),
            certificate,
        })
    }

    /// The key of `signer` and the serial that names it (the public key if the
    /// certificate is absent, which the rules above never ask for).
    pub fn key(&self, signer: Signer) -> (&SigningKey<Sha256>, &str) {
        match (signer, &self.certificate) {
            (Signer::Certificate, Some(c)) => (&c.key, &c.serial),
            _ => (&self.public_key, &self.public_key_id),
        }
    }

    pub fn certificate(&self) -> Option<&PlatformCertificate> {
        self.certificate.as_ref()
    }
}

fn load_certificate(config: &SimConfig) -> anyhow::Result<PlatformCertificate> {
    let info = certificate::read_certificate(&config.platform_certificate_pem)
        .map_err(anyhow::Error::msg)
        .context("platform certificate")?;
    let private = RsaPrivateKey::from_pkcs8_pem(&config.platform_certificate_private_key_pem)
        .context("platform certificate private key")?;
    let public = RsaPublicKey::from_public_key_der(&info.public_key_der)
        .context("the platform certificate's public key is not RSA")?;
    anyhow::ensure!(
        RsaPublicKey::from(&private) == public,
        "the platform certificate private key is not the certificate's"
    );
    anyhow::ensure!(
        config.platform_certificate_serial == info.serial,
        "platform_certificate_serial {} is not the certificate's serial {}",
        config.platform_certificate_serial,
        info.serial
    );
    Ok(PlatformCertificate {
        key: SigningKey::new(private),
        serial: info.serial.clone(),
        pem: config.platform_certificate_pem.clone(),
        info,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "PUB_KEY_ID_0114232134912410000000000000";

    #[test]
    fn verification_modes_are_named_as_the_binary_spells_them() {
        for mode in [
            Verification::PublicKey,
            Verification::Certificate,
            Verification::Migration,
        ] {
            assert_eq!(mode.to_string().parse(), Ok(mode));
        }
        assert!("public_key".parse::<Verification>().is_err());
        assert_eq!(Verification::default(), Verification::PublicKey);
    }

    #[test]
    fn answers_follow_the_single_key_of_the_single_key_modes() {
        for serial in [
            None,
            Some(ID),
            Some("5157F09EFDC096DE15EBE81A47057A7232F1B8E1"),
        ] {
            assert_eq!(
                answer_signer(Verification::PublicKey, serial, ID),
                Signer::PublicKey
            );
            assert_eq!(
                answer_signer(Verification::Certificate, serial, ID),
                Signer::Certificate,
                "before the switch, the public key id changes nothing"
            );
        }
    }

    #[test]
    fn during_migration_an_answer_is_signed_with_the_public_key_only_if_the_request_names_it() {
        let m = Verification::Migration;
        assert_eq!(answer_signer(m, Some(ID), ID), Signer::PublicKey);
        assert_eq!(answer_signer(m, None, ID), Signer::Certificate);
        assert_eq!(
            answer_signer(m, Some("PUB_KEY_ID_0000000000000000000000000000"), ID),
            Signer::Certificate
        );
    }

    #[test]
    fn during_migration_notifications_alternate_unless_the_knob_forces_a_key() {
        let m = Verification::Migration;
        let signers: Vec<Signer> = (0..4)
            .map(|n| notification_signer(m, NotificationSigner::Alternate, n))
            .collect();
        assert_eq!(
            signers,
            [
                Signer::Certificate,
                Signer::PublicKey,
                Signer::Certificate,
                Signer::PublicKey
            ]
        );
        for n in 0..3 {
            assert_eq!(
                notification_signer(m, NotificationSigner::PublicKey, n),
                Signer::PublicKey
            );
            assert_eq!(
                notification_signer(m, NotificationSigner::Certificate, n),
                Signer::Certificate
            );
            assert_eq!(
                notification_signer(Verification::PublicKey, NotificationSigner::Certificate, n),
                Signer::PublicKey,
                "one key, whatever the knob"
            );
            assert_eq!(
                notification_signer(Verification::Certificate, NotificationSigner::PublicKey, n),
                Signer::Certificate
            );
        }
    }

    #[test]
    fn a_certificate_that_does_not_match_its_key_or_serial_is_refused() {
        let mut config = SimConfig::with_fixture_keys();
        config.verification = Verification::Certificate;
        let keys = PlatformKeys::load(&config).expect("the fixtures match");
        assert_eq!(
            keys.key(Signer::Certificate).1,
            config.platform_certificate_serial
        );
        assert_eq!(keys.key(Signer::PublicKey).1, config.platform_public_key_id);

        let mut wrong_serial = config.clone();
        wrong_serial.platform_certificate_serial = foreign_serial(Signer::Certificate).into();
        let e = PlatformKeys::load(&wrong_serial).err().expect("refused");
        assert!(e.to_string().contains("serial"), "{e:#}");

        let mut wrong_key = config.clone();
        wrong_key.platform_certificate_private_key_pem = config.platform_private_key_pem.clone();
        assert!(PlatformKeys::load(&wrong_key).is_err());

        let mut public_key_only = config;
        public_key_only.verification = Verification::PublicKey;
        public_key_only.platform_certificate_pem = String::new();
        let keys = PlatformKeys::load(&public_key_only).expect("no certificate needed");
        assert!(keys.certificate().is_none());
        assert_eq!(
            keys.key(Signer::Certificate).1,
            public_key_only.platform_public_key_id
        );
    }
}
