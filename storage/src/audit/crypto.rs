//! Personal data protection: a keyed hash for the indexes, and ChaCha20-Poly1305 under a random
//! 256-bit key per subject, so erasing the key makes the subject's data unreadable.

use super::entry::{PersonalData, SubjectId};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

/// Length of a subject key id, in bytes (128 random bits: collisions are negligible).
pub const KEY_ID_BYTES: usize = 16;

/// Computes HMAC-SHA256 of the subject id under the store's index key. The tenant and actor
/// id are length-prefixed so that no two subjects hash the same input.
pub fn subject_ref(index_key: &[u8; 32], subject: &SubjectId) -> [u8; 32] {
    subject_ref_of(index_key, &subject.tenant, &subject.actor_id)
}

/// [`subject_ref`] of the subject `(tenant, actor_id)`.
pub fn subject_ref_of(index_key: &[u8; 32], tenant: &str, actor_id: &str) -> [u8; 32] {
    let mut input = Vec::with_capacity(16 + tenant.len() + actor_id.len());
    input.extend_from_slice(&(tenant.len() as u64).to_be_bytes());
    input.extend_from_slice(tenant.as_bytes());
    input.extend_from_slice(&(actor_id.len() as u64).to_be_bytes());
    input.extend_from_slice(actor_id.as_bytes());

    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(index_key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(&input);
    mac.finalize().into_bytes().into()
}

/// A fresh subject key and its id.
pub fn new_subject_key() -> ([u8; KEY_ID_BYTES], [u8; 32]) {
    let mut id = [0u8; KEY_ID_BYTES];
    let mut key = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut id);
    rand::rngs::OsRng.fill_bytes(&mut key);
    (id, key)
}

/// Encrypts the JSON of the personal data; the decision id is bound as associated data so a
/// ciphertext cannot be moved to another record. Returns the random nonce and the ciphertext,
/// or None when encryption fails.
///
/// The nonce comes from the thread's ChaCha-based CSPRNG (`rand::thread_rng`, seeded and
/// periodically reseeded from the OS), which avoids a system call per record. Random 96-bit
/// nonces stay unique with overwhelming probability for far more records than one subject key
/// encrypts.
pub fn seal(key: &[u8; 32], decision_id: &str, plaintext: &[u8]) -> Option<([u8; 12], Vec<u8>)> {
    let mut nonce = [0u8; 12];
    rand::thread_rng().fill_bytes(&mut nonce);

    let cipher = ChaCha20Poly1305::new(Key::from_slice(key));
    let payload = Payload {
        msg: plaintext,
        aad: decision_id.as_bytes(),
    };
    let ciphertext = cipher.encrypt(Nonce::from_slice(&nonce), payload).ok()?;
    Some((nonce, ciphertext))
}

/// Decrypts personal data; None when the key, nonce, decision id or ciphertext do not match.
pub fn open(
    key: &[u8; 32],
    decision_id: &str,
    nonce: &[u8],
    ciphertext: &[u8],
) -> Option<PersonalData> {
    if nonce.len() != 12 {
        return None;
    }
    let cipher = ChaCha20Poly1305::new(Key::from_slice(key));
    let payload = Payload {
        msg: ciphertext,
        aad: decision_id.as_bytes(),
    };
    let plaintext = cipher.decrypt(Nonce::from_slice(nonce), payload).ok()?;
    serde_json::from_slice(&plaintext).ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn personal() -> PersonalData {
        PersonalData {
            actor_id: "agent-7".into(),
            params: serde_json::json!({"amount": "12.50"}),
        }
    }

    #[test]
    fn sealed_data_opens_only_with_its_key_and_decision() {
        let (_, key) = new_subject_key();
        let (_, other_key) = new_subject_key();
        let plaintext = serde_json::to_vec(&personal()).unwrap();
        let (nonce, ciphertext) = seal(&key, "d-1", &plaintext).unwrap();

        assert_eq!(open(&key, "d-1", &nonce, &ciphertext), Some(personal()));
        assert_eq!(open(&other_key, "d-1", &nonce, &ciphertext), None);
        assert_eq!(open(&key, "d-2", &nonce, &ciphertext), None);
    }

    #[test]
    fn subject_ref_separates_tenant_and_actor() {
        let index_key = [7u8; 32];
        let a = subject_ref(&index_key, &SubjectId::new("ab", "c"));
        let b = subject_ref(&index_key, &SubjectId::new("a", "bc"));
        assert_ne!(a, b);
        assert_ne!(a, subject_ref(&[8u8; 32], &SubjectId::new("ab", "c")));
    }
}
