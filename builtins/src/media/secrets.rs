//! Passwords and secret detection for contextualization media.
//!
//! A password is given either as a crypt hash (`$6$…`, `$5$…`, `$y$…`, kept as is) or in
//! plain text, which the builder hashes with SHA-512 crypt (5000 rounds, the glibc
//! default) — the plain text never reaches a medium. Both arrive sealed
//! ([`imgbuild_evaluator::Sealed`]). The salt is not drawn at random, so a rebuild gives
//! the same bytes: it is derived from the password's keyed seal and the VM, so it is
//! different for every VM and password, differs between secret keys, and — since the
//! seal needs the secret key — cannot be used to test candidate passwords any faster
//! than the 5000 rounds of SHA-512 crypt itself.
//!
//! [`holds_secrets`] decides whether a medium must be stored owner-only: it does when it
//! carries a password in any form, SSH keys, or anything that looks like a private key.

use imgbuild_evaluator::{Sealed, Value};
use sha_crypt::PasswordHasher as _;

/// SHA-512 crypt of `password` with a salt derived from its seal and `context`.
pub(crate) fn sha512_crypt(password: &Sealed, context: &str) -> Result<String, String> {
    let mut hasher = blake3::Hasher::new_keyed(password.seal());
    hasher.update(b"imgbuild sha512-crypt salt v2\0");
    hasher.update(&(context.len() as u64).to_le_bytes());
    hasher.update(context.as_bytes());
    let digest = hasher.finalize();
    // 12 bytes become the 16 salt characters glibc reads (it ignores any beyond 16).
    sha_crypt::ShaCrypt::default()
        .hash_password_with_salt(password.text().as_bytes(), &digest.as_bytes()[..12])
        .map(|hash| hash.to_string())
        .map_err(|error| format!("hashing the password failed: {error}"))
}

/// Checks that `value` looks like a crypt(3) hash a Linux `/etc/shadow` accepts.
pub(crate) fn crypt_hash(value: &str) -> Result<(), String> {
    let known = ["$6$", "$5$", "$y$", "$gy$", "$7$", "$2b$", "$2y$", "$1$"];
    let valid = known.iter().any(|prefix| value.starts_with(prefix))
        && value.split('$').count() >= 4
        && !value.contains([' ', '\n', ':', '\'']);
    if valid {
        Ok(())
    } else {
        // The value is never quoted: it may be a plain password given in the wrong field.
        Err(format!(
            "the value ({} characters, not shown: it may be a password) is not a crypt hash \
             (expected `$6$salt$hash`, as `mkpasswd -m sha-512` prints); \
             use `password` for a plain-text password to be hashed at build time",
            value.chars().count()
        ))
    }
}

/// Keys whose values are credentials.
const SECRET_KEYS: &[&str] = &[
    "password",
    "passwd",
    "hashed_passwd",
    "plain_text_passwd",
    "crypted_password",
    "chpasswd",
    "ssh_keys",
    "ssh_authorized_keys",
    "ssh_public_key",
    "token",
    "private_key",
];

/// True when `value` carries a password, SSH keys, a token or private key material.
pub(crate) fn holds_secrets(value: &Value) -> bool {
    match value {
        Value::Secret(_) => true,
        Value::String(text) => text.contains("PRIVATE KEY-----"),
        Value::List(items) => items.iter().any(holds_secrets),
        Value::Map(entries) => entries.iter().any(|(key, item)| {
            let lower = key.to_ascii_lowercase();
            (SECRET_KEYS.contains(&lower.as_str()) && !matches!(item, Value::Null))
                || lower.contains("password")
                || holds_secrets(item)
        }),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha512_crypt_matches_the_reference_algorithm() {
        use sha_crypt::PasswordVerifier as _;
        // Test vectors of Ulrich Drepper's SHA-crypt specification.
        let verifier = sha_crypt::ShaCrypt::default();
        for (password, hash) in [
            ("Hello world!", "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1"),
            ("Hello world!", "$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v."),
        ] {
            verifier
                .verify_password(password.as_bytes(), hash)
                .unwrap_or_else(|error| panic!("{hash}: {error}"));
            assert!(verifier.verify_password(b"wrong", hash).is_err());
        }
    }

    #[test]
    fn hashing_is_deterministic_and_salted_per_context() {
        let sealed = |key: u8| Sealed::new(&[key; 32], "secret".to_owned());
        let first = sha512_crypt(&sealed(1), "vm-1").expect("hash");
        assert_eq!(first, sha512_crypt(&sealed(1), "vm-1").expect("hash"));
        assert_ne!(first, sha512_crypt(&sealed(1), "vm-2").expect("hash"));
        assert_ne!(
            first,
            sha512_crypt(&sealed(2), "vm-1").expect("hash"),
            "another key"
        );
        assert!(first.starts_with("$6$") && !first.contains("secret"));
        let salt = first
            .trim_start_matches("$6$rounds=5000$")
            .split('$')
            .next()
            .unwrap_or_default();
        assert_eq!(salt.len(), 16, "{first}");
        crypt_hash(&first).expect("our own hash is a crypt hash");
    }

    #[test]
    fn crypt_hashes_are_recognised() {
        assert!(crypt_hash("$6$abc$def").is_ok());
        let error = crypt_hash("hunter2").expect_err("not a hash");
        assert!(
            !error.contains("hunter2"),
            "the value is never echoed: {error}"
        );
        assert!(error.contains("7 characters"), "{error}");
    }
}
