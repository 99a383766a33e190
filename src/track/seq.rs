//! TCP sequence numbers, compared with wrapping arithmetic (RFC 9293 §3.4).

/// A 32-bit sequence number; ordering wraps around, so it is handled here once.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct Seq(pub u32);

impl Seq {
    /// Signed distance `self - other`, valid while they are within 2^31.
    pub fn diff(self, other: Seq) -> i32 {
        self.0.wrapping_sub(other.0) as i32
    }

    /// `self` comes strictly after `other` in sequence space.
    pub fn after(self, other: Seq) -> bool {
        self.diff(other) > 0
    }

    /// `self` is at or after `other`.
    pub fn at_or_after(self, other: Seq) -> bool {
        self.diff(other) >= 0
    }

    /// `self + n`, wrapping.
    pub fn plus(self, n: u32) -> Seq {
        Seq(self.0.wrapping_add(n))
    }

    /// The later of two sequence numbers.
    pub fn max(self, other: Seq) -> Seq {
        if other.after(self) {
            other
        } else {
            self
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordering_survives_wraparound() {
        let near_end = Seq(u32::MAX - 10);
        let wrapped = near_end.plus(20);
        assert_eq!(wrapped, Seq(9));
        assert!(wrapped.after(near_end));
        assert!(!near_end.after(wrapped));
        assert_eq!(wrapped.diff(near_end), 20);
        assert_eq!(near_end.max(wrapped), wrapped);
        assert!(Seq(5).at_or_after(Seq(5)));
    }
}
