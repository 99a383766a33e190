//! `[evidence]`: where and how much of each incident's packets
//! (headers only) the recorder keeps.

use std::path::{Path, PathBuf};

use serde::{de, Deserialize, Deserializer};

use super::ConfigDuration;
use crate::time::Duration;

/// Default `before`: five minutes of a link's frames before its trigger,
/// the window a carrier asks about first.
pub const DEFAULT_BEFORE: Duration = Duration::from_secs(300);
/// Default `after`: a minute after the incident's last trigger, enough to
/// see a reconnect or its absence.
pub const DEFAULT_AFTER: Duration = Duration::from_secs(60);
/// Default `memory_per_link`: 16 MiB, about 186,000 stored headers of 66
/// bytes (90 with their bookkeeping): five minutes of a link at 620
/// packets/s.
pub const DEFAULT_MEMORY_PER_LINK: u64 = 16 << 20;
/// Default `max_disk`: 1 GiB of evidence files in all.
pub const DEFAULT_MAX_DISK: u64 = 1 << 30;
/// Smallest `memory_per_link`: 64 KiB (some hundreds of frames).
pub const MIN_MEMORY_PER_LINK: u64 = 64 << 10;
/// Smallest `max_disk`: 1 MiB.
pub const MIN_MAX_DISK: u64 = 1 << 20;

/// The `[evidence]` settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EvidenceConfig {
    /// Where incident files go; `None` means `STATE_DIR/evidence`.
    pub dir: Option<PathBuf>,
    /// How much of a link's past an incident file starts with.
    pub before: Duration,
    /// How long after the incident's last trigger the file goes on.
    pub after: Duration,
    /// Each link's ring of recent headers, in bytes.
    pub memory_per_link: usize,
    /// All evidence files together, in bytes; the oldest go first.
    pub max_disk: u64,
}

impl Default for EvidenceConfig {
    fn default() -> EvidenceConfig {
        EvidenceConfig {
            dir: None,
            before: DEFAULT_BEFORE,
            after: DEFAULT_AFTER,
            memory_per_link: usize::try_from(DEFAULT_MEMORY_PER_LINK).unwrap_or(usize::MAX),
            max_disk: DEFAULT_MAX_DISK,
        }
    }
}

impl EvidenceConfig {
    /// The directory, `STATE_DIR/evidence` unless set.
    pub fn dir_under(&self, state_dir: &Path) -> PathBuf {
        self.dir
            .clone()
            .unwrap_or_else(|| state_dir.join("evidence"))
    }
}

/// A byte size in config syntax (`"16MiB"`, `"1GiB"`, `"500000"`).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct ConfigBytes(pub u64);

impl<'de> Deserialize<'de> for ConfigBytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse::<bytesize::ByteSize>()
            .map(|b| ConfigBytes(b.as_u64()))
            .map_err(|e| {
                de::Error::custom(format!(
                    "`{s}` is not a size: {e}; write e.g. \"16MiB\" or \"1GiB\""
                ))
            })
    }
}

/// `[evidence]` as written.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEvidence {
    dir: Option<PathBuf>,
    before: Option<ConfigDuration>,
    after: Option<ConfigDuration>,
    memory_per_link: Option<ConfigBytes>,
    max_disk: Option<ConfigBytes>,
}

impl RawEvidence {
    /// Checks and fills in the defaults.
    pub(super) fn validate(self) -> Result<EvidenceConfig, String> {
        let before = self.before.map_or(DEFAULT_BEFORE, |d| d.0);
        let after = self.after.map_or(DEFAULT_AFTER, |d| d.0);
        for (key, d) in [("before", before), ("after", after)] {
            if d.as_nanos() < 0 || d > Duration::from_secs(24 * 3600) {
                return Err(format!(
                    "[evidence] `{key}`: {d} is out of range; use 0s to 24h"
                ));
            }
        }
        let memory = self
            .memory_per_link
            .map_or(DEFAULT_MEMORY_PER_LINK, |b| b.0);
        if memory < MIN_MEMORY_PER_LINK {
            return Err(format!(
                "[evidence] `memory_per_link`: at least 64KiB (default 16MiB), got {memory} bytes"
            ));
        }
        let max_disk = self.max_disk.map_or(DEFAULT_MAX_DISK, |b| b.0);
        if max_disk < MIN_MAX_DISK {
            return Err(format!(
                "[evidence] `max_disk`: at least 1MiB (default 1GiB), got {max_disk} bytes"
            ));
        }
        Ok(EvidenceConfig {
            dir: self.dir,
            before,
            after,
            memory_per_link: usize::try_from(memory).unwrap_or(usize::MAX),
            max_disk,
        })
    }
}
