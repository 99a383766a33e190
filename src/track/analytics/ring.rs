//! A fixed ring of the last `N` items, inline (no allocation): the
//! requests waiting for an answer. Full, a push forgets the oldest.

/// Up to `N` items, oldest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ring<T, const N: usize> {
    items: [T; N],
    /// Index of the oldest.
    head: usize,
    len: usize,
}

impl<T: Copy + Default, const N: usize> Default for Ring<T, N> {
    fn default() -> Self {
        Ring {
            items: [T::default(); N],
            head: 0,
            len: 0,
        }
    }
}

impl<T: Copy + Default, const N: usize> Ring<T, N> {
    /// Items held.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Holds nothing.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The `i`th oldest.
    #[inline]
    pub fn get(&self, i: usize) -> Option<&T> {
        (i < self.len).then(|| self.items.get((self.head + i) % N))?
    }

    /// The oldest.
    #[inline]
    pub fn first(&self) -> Option<&T> {
        self.get(0)
    }

    /// Adds `x` as the newest; full, forgets the oldest and says so.
    #[inline]
    pub fn push(&mut self, x: T) -> bool {
        let full = self.len == N;
        if full {
            self.pop_front();
        }
        if let Some(slot) = self.items.get_mut((self.head + self.len) % N) {
            *slot = x;
            self.len += 1;
        }
        full
    }

    /// Takes the oldest.
    #[inline]
    pub fn pop_front(&mut self) -> Option<T> {
        let x = *self.first()?;
        self.head = (self.head + 1) % N;
        self.len -= 1;
        Some(x)
    }

    /// Forgets everything.
    #[inline]
    pub fn clear(&mut self) {
        self.head = 0;
        self.len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_ring_forgets_the_oldest() {
        let mut r: Ring<u32, 3> = Ring::default();
        for i in 0..5 {
            r.push(i);
        }
        assert_eq!((r.len(), r.first(), r.get(2)), (3, Some(&2), Some(&4)));
        assert_eq!(r.pop_front(), Some(2));
        r.clear();
        assert!(r.is_empty());
        assert_eq!(r.pop_front(), None);
    }
}
