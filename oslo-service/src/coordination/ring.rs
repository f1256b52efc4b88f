//! A consistent hash ring: each member owns the arcs before its points, so that a key
//! belongs to the same member on every host that sees the same members, and a member
//! that joins or leaves moves only the keys of its own arcs.

/// Points each member puts on the ring: enough to spread keys evenly over a handful of
/// members.
const POINTS_PER_MEMBER: u32 = 64;

/// The ring of a group's members.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HashRing {
    points: Vec<(u64, String)>,
}

impl HashRing {
    /// The ring of `members`.
    pub fn new<'a>(members: impl IntoIterator<Item = &'a str>) -> Self {
        let mut points: Vec<(u64, String)> = members
            .into_iter()
            .flat_map(|member| {
                (0..POINTS_PER_MEMBER)
                    .map(move |i| (hash(format!("{member}#{i}").as_bytes()), member.to_owned()))
            })
            .collect();
        points.sort_unstable();
        points.dedup();
        HashRing { points }
    }

    /// Up to `count` distinct members for `key`, its owner first.
    pub fn members_for(&self, key: &str, count: usize) -> Vec<String> {
        let mut found: Vec<String> = Vec::with_capacity(count);
        if self.points.is_empty() {
            return found;
        }
        let start = self
            .points
            .partition_point(|(point, _)| *point < hash(key.as_bytes()));
        for step in 0..self.points.len() {
            let (_, member) = &self.points[(start + step) % self.points.len()];
            if found.len() == count {
                break;
            }
            if !found.contains(member) {
                found.push(member.clone());
            }
        }
        found
    }
}

/// FNV-1a, 64 bits, then MurmurHash3's finalizer: the same on every host and every
/// build (which the standard library's hasher does not promise), and names that differ
/// in their last character (`volume-1`, `volume-2`) land far apart on the ring, which
/// FNV alone does not do.
fn hash(bytes: &[u8]) -> u64 {
    let mut hash = bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    });
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xff51_afd7_ed55_8ccd);
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    hash ^ (hash >> 33)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_spread_and_move_only_from_a_member_that_leaves() {
        let three = HashRing::new(["a", "b", "c"]);
        let keys: Vec<String> = (0..3000).map(|i| format!("item-{i}")).collect();
        let owner = |ring: &HashRing, key: &str| ring.members_for(key, 1)[0].clone();
        for member in ["a", "b", "c"] {
            let owned = keys.iter().filter(|k| owner(&three, k) == member).count();
            assert!(
                (600..=1400).contains(&owned),
                "{member} owns {owned} of 3000"
            );
        }
        let two = HashRing::new(["a", "c"]);
        for key in &keys {
            let before = owner(&three, key);
            if before != "b" {
                assert_eq!(owner(&two, key), before, "{key} moved");
            }
        }
        assert_eq!(three.members_for("x", 5).len(), 3);
        assert!(HashRing::new([]).members_for("x", 1).is_empty());
    }
}
