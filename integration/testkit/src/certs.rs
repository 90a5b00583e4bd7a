//! [`TestCa`]: a certificate authority made in-process, for tests of TLS to targets (no openssl
//! command, nothing written but what the test writes itself).

use anyhow::Result;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};

/// A self-signed CA that signs server certificates.
pub struct TestCa(CertifiedIssuer<'static, KeyPair>);

impl TestCa {
    /// A new CA called `name`.
    pub fn new(name: &str) -> Result<TestCa> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        Ok(TestCa(CertifiedIssuer::self_signed(
            params,
            KeyPair::generate()?,
        )?))
    }

    /// The CA's certificate, PEM: what a client is told to trust.
    pub fn pem(&self) -> String {
        self.0.pem()
    }

    /// A server certificate for `names` (DNS names or addresses) signed by this CA, and its
    /// key: (certificate PEM, key PEM).
    pub fn server_cert(&self, names: &[&str]) -> Result<(String, String)> {
        let key = KeyPair::generate()?;
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let cert = CertificateParams::new(names)?.signed_by(&key, &self.0)?;
        Ok((cert.pem(), key.serialize_pem()))
    }
}
