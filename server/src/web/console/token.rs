//! Random tokens and their comparison: the session ids and CSRF tokens of [`super::session`],
//! the sign-in form's token, and the check of a posted token in [`super::csrf`]. Both of those
//! modules use this one, so that neither needs the other's internals.

use rand::Rng;

/// 128 random bits, hex.
pub(crate) fn random_hex() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Compares two tokens in time independent of where they differ.
pub(crate) fn matches(expected: &str, given: &str) -> bool {
    let (a, b) = (expected.as_bytes(), given.as_bytes());
    if a.len() != b.len() || a.is_empty() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_exactly() {
        let t = random_hex();
        assert_eq!(t.len(), 32);
        assert!(matches(&t, &t.clone()));
        assert!(!matches(&t, &random_hex()));
        assert!(!matches(&t, &t[..31]));
        assert!(!matches("", ""), "an empty token never matches");
    }
}
