//! [`Store`]: the IO half of the evidence recorder. It carries out the
//! recorder's [`Action`]s on disk: `DIR/<link>/<name>.pcapng` written to a
//! temporary name, made durable and renamed, appended to, then closed
//! with its SHA-256 in a sidecar `<name>.json`; and it keeps all files
//! within `max_disk`, the oldest going first.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::fs::{DirBuilderExt, FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::recorder::{Action, Incident};
use super::sidecar;

/// Directory mode: the daemon's user and group only.
const DIR_MODE: u32 = 0o750;
/// File mode: the daemon writes, its group reads.
const FILE_MODE: u32 = 0o640;

/// Why the store could not write evidence.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file or directory could not be written.
    #[error("evidence: cannot {what} {path}: {source}; check that the directory exists, is writable by linewatch and has room (or set [evidence] dir)")]
    Io {
        /// What was being done.
        what: &'static str,
        /// Where.
        path: PathBuf,
        /// The system's reason.
        source: io::Error,
    },
    /// The recorder could not encode a frame.
    #[error(transparent)]
    Encode(#[from] super::pcapng::EncodeError),
}

fn io_err<'p>(what: &'static str, path: &'p Path) -> impl FnOnce(io::Error) -> StoreError + 'p {
    move |source| StoreError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

/// An evidence file, as pages and the status document name it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EvidenceFile {
    /// The link.
    pub link: String,
    /// The pcapng file.
    pub path: PathBuf,
    /// Frames in it.
    pub packets: u64,
    /// First frame's time, RFC 3339 UTC.
    pub from: String,
    /// Last frame's time, once closed.
    pub to: Option<String>,
    /// SHA-256 of the file, once closed.
    pub sha256: Option<String>,
}

/// What an action did, for pages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Done {
    /// A file was opened (its `before` window is on disk).
    Opened(EvidenceFile),
    /// A file was closed and hashed.
    Closed(EvidenceFile),
}

struct OpenFile {
    path: PathBuf,
    out: BufWriter<File>,
}

/// The evidence directory and its open files.
pub struct Store {
    dir: PathBuf,
    max_disk: u64,
    open: HashMap<usize, OpenFile>,
    pruned: u64,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("dir", &self.dir)
            .field("max_disk", &self.max_disk)
            .field("open", &self.open.len())
            .field("pruned", &self.pruned)
            .finish()
    }
}

impl Store {
    /// The store under `dir` (created, mode 0750), within `max_disk` bytes.
    pub fn new(dir: &Path, max_disk: u64) -> Result<Store, StoreError> {
        make_dir(dir)?;
        Ok(Store {
            dir: dir.to_path_buf(),
            max_disk,
            open: HashMap::new(),
            pruned: 0,
        })
    }

    /// Evidence files removed to stay within `max_disk`.
    pub fn pruned(&self) -> u64 {
        self.pruned
    }

    /// Carries out one action of the recorder; a new file goes to `path`
    /// ([`path_for`], decided by the caller so that pages can name it
    /// before it is written), else where [`path_for`] puts it.
    pub fn apply(
        &mut self,
        action: Action,
        path: Option<PathBuf>,
    ) -> Result<Option<Done>, StoreError> {
        match action {
            Action::Open {
                lane,
                link,
                name,
                bytes,
                incident,
            } => {
                let path = path.unwrap_or_else(|| path_for(&self.dir, &link, &name, None));
                let dir = path.parent().unwrap_or(&self.dir).to_path_buf();
                make_dir(&dir)?;
                let part = path.with_extension("pcapng.part");
                let mut file = create(&part)?;
                file.write_all(&bytes).map_err(io_err("write", &part))?;
                file.sync_all().map_err(io_err("sync", &part))?;
                fs::rename(&part, &path).map_err(io_err("rename", &part))?;
                write_durably(
                    &path.with_extension("json"),
                    &sidecar::render(&incident, None),
                )?;
                sync_dir(&dir)?;
                self.open.insert(
                    lane,
                    OpenFile {
                        path: path.clone(),
                        out: BufWriter::new(file),
                    },
                );
                self.prune()?;
                Ok(Some(Done::Opened(describe(&path, &incident, None))))
            }
            Action::Append { lane, bytes } => {
                if let Some(f) = self.open.get_mut(&lane) {
                    f.out
                        .write_all(&bytes)
                        .map_err(io_err("append to", &f.path))?;
                }
                Ok(None)
            }
            Action::Close { lane, incident } => {
                let Some(f) = self.open.remove(&lane) else {
                    return Ok(None);
                };
                let path = f.path.clone();
                let file = f
                    .out
                    .into_inner()
                    .map_err(|e| e.into_error())
                    .map_err(io_err("write", &path))?;
                if incident.snaplen > 0 {
                    file.write_all_at(&incident.snaplen.to_le_bytes(), incident.snaplen_at)
                        .map_err(io_err("write", &path))?;
                }
                file.sync_all().map_err(io_err("sync", &path))?;
                drop(file);
                let sha256 = sha256_of(&path)?;
                write_durably(
                    &path.with_extension("json"),
                    &sidecar::render(&incident, Some(&sha256)),
                )?;
                if let Some(dir) = path.parent() {
                    sync_dir(dir)?;
                }
                self.prune()?;
                Ok(Some(Done::Closed(describe(&path, &incident, Some(sha256)))))
            }
        }
    }

    /// Writes buffered frames out to the files (not durably: closing is).
    pub fn flush(&mut self) -> Result<(), StoreError> {
        for f in self.open.values_mut() {
            f.out.flush().map_err(io_err("write", &f.path))?;
        }
        Ok(())
    }

    /// Removes the oldest closed evidence files (and their sidecars) until
    /// all of them fit in `max_disk`. Open files are never removed.
    fn prune(&mut self) -> Result<(), StoreError> {
        let mut files = Vec::new();
        let mut total = 0u64;
        let links = fs::read_dir(&self.dir).map_err(io_err("list", &self.dir))?;
        for link in links.flatten() {
            let Ok(entries) = fs::read_dir(link.path()) else {
                continue;
            };
            for e in entries.flatten() {
                let Ok(meta) = e.metadata() else { continue };
                if !meta.is_file() {
                    continue;
                }
                total += meta.len();
                let path = e.path();
                if path.extension().is_some_and(|x| x == "pcapng") {
                    let sidecar = path.with_extension("json");
                    let side_len = fs::metadata(&sidecar).map_or(0, |m| m.len());
                    let modified = meta.modified().ok();
                    files.push((modified, path, meta.len() + side_len));
                }
            }
        }
        if total <= self.max_disk {
            return Ok(());
        }
        files.sort();
        for (_, path, len) in files {
            if total <= self.max_disk {
                break;
            }
            if self.open.values().any(|f| f.path == path) {
                continue;
            }
            fs::remove_file(&path).map_err(io_err("remove", &path))?;
            let _ = fs::remove_file(path.with_extension("json"));
            total = total.saturating_sub(len);
            self.pruned += 1;
            crate::logging::warn(&format!(
                "evidence: over max_disk ({} bytes): removed the oldest file {} ({} removed since start)",
                self.max_disk,
                path.display(),
                self.pruned
            ));
        }
        Ok(())
    }
}

/// Where an incident file named `name` of `link` goes under `dir`:
/// `DIR/<link>/<name>.pcapng`, or `<name>-2.pcapng` (and so on) if that is
/// on disk already or is `taken` (the last path given out for the link,
/// which may not be written yet).
pub fn path_for(dir: &Path, link: &str, name: &str, taken: Option<&Path>) -> PathBuf {
    let dir = dir.join(link);
    let mut path = dir.join(format!("{name}.pcapng"));
    let mut n = 2;
    while path.exists() || taken == Some(path.as_path()) {
        path = dir.join(format!("{name}-{n}.pcapng"));
        n += 1;
    }
    path
}

pub(super) fn describe(path: &Path, i: &Incident, sha256: Option<String>) -> EvidenceFile {
    EvidenceFile {
        link: i.link.to_string(),
        path: path.to_path_buf(),
        packets: i.packets,
        from: i.from.rfc3339(),
        to: sha256.as_ref().map(|_| i.to.rfc3339()),
        sha256,
    }
}

fn make_dir(dir: &Path) -> Result<(), StoreError> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)
        .map_err(io_err("create the directory", dir))
}

fn create(path: &Path) -> Result<File, StoreError> {
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(FILE_MODE)
        .open(path)
        .map_err(io_err("create", path))
}

/// Writes `bytes` to `path` through a temporary file, synced and renamed:
/// a reader sees the old contents or the new, never half.
fn write_durably(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let part = path.with_extension("json.part");
    let mut f = create(&part)?;
    f.write_all(bytes).map_err(io_err("write", &part))?;
    f.sync_all().map_err(io_err("sync", &part))?;
    fs::rename(&part, path).map_err(io_err("rename", &part))
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("sync the directory", dir))
}

/// The SHA-256 of the file at `path`, in lowercase hex.
pub fn sha256_of(path: &Path) -> Result<String, StoreError> {
    let mut f = File::open(path).map_err(io_err("read", path))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf).map_err(io_err("read", path))?;
        if n == 0 {
            break;
        }
        hasher.update(buf.get(..n).unwrap_or_default());
    }
    Ok(format!("{:x}", hasher.finalize()))
}
