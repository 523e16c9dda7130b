//! The one hash of the job's identities: FNV-1a, 64 bit, stable across builds and platforms
//! (unlike std's `DefaultHasher`). Job ids (`workdir`), resume fingerprints (`resume`) and
//! two-pass statistics fingerprints (`twopass`) are all made with it, so changing it changes
//! every one of them.

/// FNV-1a, 64 bit, with a separator after each `write` so ("ab","c") and ("a","bc") differ.
pub struct Fnv(u64);

const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
const PRIME: u64 = 0x0100_0000_01b3;

impl Default for Fnv {
    fn default() -> Fnv {
        Fnv(OFFSET_BASIS)
    }
}

impl Fnv {
    pub fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(PRIME);
        }
        // separator so ("ab","c") and ("a","bc") differ
        self.0 ^= 0xff;
        self.0 = self.0.wrapping_mul(PRIME);
    }
    pub fn finish(&self) -> u64 {
        self.0
    }
    /// The hash as the ids and fingerprints show it: 16 lowercase hex digits.
    pub fn hex(&self) -> String {
        format!("{:016x}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_stay_what_existing_ids_were_made_with() {
        // job ids, resume manifests and pass-1 stores on disk were hashed with these values
        assert_eq!(Fnv::default().hex(), "cbf29ce484222325");
        let mut h = Fnv::default();
        h.write(b"a");
        // FNV-1a of "a" is af63dc4c8601ec8c; then the 0xff separator
        assert_eq!(
            h.finish(),
            (0xaf63_dc4c_8601_ec8c_u64 ^ 0xff).wrapping_mul(PRIME)
        );
        let (mut x, mut y) = (Fnv::default(), Fnv::default());
        x.write(b"ab");
        x.write(b"c");
        y.write(b"a");
        y.write(b"bc");
        assert_ne!(x.finish(), y.finish());
    }
}
