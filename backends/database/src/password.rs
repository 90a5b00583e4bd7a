//! Passwords for new users.
//!
//! The default follows Vault's generator: 20 characters from `[a-zA-Z0-9-]` with at least one
//! lower-case letter, one upper-case letter, one digit and one `-`, drawn until all four hold.
//! A connection may change the length (`password_length`, 8..=128) and the alphabet
//! (`password_charset`); a custom alphabet has no class rules.
//!
//! No alphabet may hold `'` or `\`: statements put the password inside a SQL string literal
//! (`PASSWORD '{{password}}'`), and those two are the only characters that could end it.

use rand::Rng;
use secrecy::SecretString;
use zeroize::Zeroizing;

/// The default length.
pub const DEFAULT_LENGTH: usize = 20;
/// Shortest allowed `password_length`.
pub const MIN_LENGTH: usize = 8;
/// Longest allowed `password_length`.
pub const MAX_LENGTH: usize = 128;

const DEFAULT_ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-";

/// How a connection's passwords are made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PasswordPolicy {
    length: usize,
    /// `None`: the default alphabet with its class rules.
    charset: Option<Vec<u8>>,
}

impl PasswordPolicy {
    /// A checked policy; the error names the field.
    pub(crate) fn new(length: usize, charset: Option<&str>) -> Result<Self, String> {
        if !(MIN_LENGTH..=MAX_LENGTH).contains(&length) {
            return Err(format!(
                "password_length must be between {MIN_LENGTH} and {MAX_LENGTH}, got {length}"
            ));
        }
        let charset = charset.map(parse_charset).transpose()?;
        Ok(Self { length, charset })
    }

    /// A fresh password.
    pub(crate) fn generate(&self, rng: &mut impl Rng) -> SecretString {
        let alphabet = self.charset.as_deref().unwrap_or(DEFAULT_ALPHABET);
        loop {
            // Exactly `length` ASCII bytes into exactly that capacity: the buffer never
            // reallocates (which would leave an unzeroized copy behind), and a rejected draw
            // is zeroized when dropped.
            let mut candidate = Zeroizing::new(String::with_capacity(self.length));
            for _ in 0..self.length {
                let i = rng.gen_range(0..alphabet.len());
                candidate.push(alphabet.get(i).map_or('-', |&b| char::from(b)));
            }
            if self.charset.is_some() || meets_default_rules(&candidate) {
                return SecretString::from(candidate.as_str());
            }
        }
    }
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self {
            length: DEFAULT_LENGTH,
            charset: None,
        }
    }
}

fn meets_default_rules(candidate: &str) -> bool {
    let has = |f: fn(&u8) -> bool| candidate.as_bytes().iter().any(f);
    has(u8::is_ascii_lowercase)
        && has(u8::is_ascii_uppercase)
        && has(u8::is_ascii_digit)
        && has(|b| *b == b'-')
}

/// A custom alphabet: printable ASCII without blanks, `'` or `\`, at least 10 distinct characters
/// (fewer would make even 128-character passwords weak at the short end).
fn parse_charset(text: &str) -> Result<Vec<u8>, String> {
    let mut chars: Vec<u8> = Vec::new();
    for c in text.chars() {
        if !c.is_ascii_graphic() || c == '\'' || c == '\\' {
            return Err(format!(
                "password_charset may hold only printable ASCII other than blanks, ' and \\; got {c:?}"
            ));
        }
        let b = c as u8; // ASCII checked above, so the cast keeps the value
        if !chars.contains(&b) {
            chars.push(b);
        }
    }
    if chars.len() < 10 {
        return Err(format!(
            "password_charset needs at least 10 distinct characters, got {}",
            chars.len()
        ));
    }
    Ok(chars)
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn default_passwords_meet_vaults_rules() {
        let policy = PasswordPolicy::default();
        let mut rng = rand::thread_rng();
        for _ in 0..200 {
            let pw = policy.generate(&mut rng);
            let pw = pw.expose_secret();
            assert_eq!(pw.len(), 20);
            assert!(meets_default_rules(pw), "{pw}");
            assert!(pw.bytes().all(|b| DEFAULT_ALPHABET.contains(&b)));
        }
    }

    #[test]
    fn custom_length_and_charset() {
        let policy = PasswordPolicy::new(64, Some("abcdefghij!#")).unwrap();
        let pw = policy.generate(&mut rand::thread_rng());
        assert_eq!(pw.expose_secret().len(), 64);
        assert!(pw
            .expose_secret()
            .bytes()
            .all(|b| b"abcdefghij!#".contains(&b)));
    }

    #[test]
    fn rejects_bad_policies() {
        assert!(PasswordPolicy::new(7, None)
            .unwrap_err()
            .contains("password_length"));
        assert!(PasswordPolicy::new(129, None).is_err());
        assert!(PasswordPolicy::new(20, Some("abcdefghij'"))
            .unwrap_err()
            .contains("password_charset"));
        assert!(PasswordPolicy::new(20, Some("abcdefghij\\")).is_err());
        assert!(PasswordPolicy::new(20, Some("abcdefghij ")).is_err());
        assert!(PasswordPolicy::new(20, Some("aaaaaaaaaaaab")).is_err());
    }
}
