//! What the daemon settles before it runs: its config, its state
//! directory, and the user it runs as (keeping only the capabilities a
//! capture needs).

use std::path::{Path, PathBuf};

use crate::config::Config;

use super::{DaemonError, DaemonOptions};

/// Keeps CAP_NET_RAW and CAP_NET_ADMIN across the switch to `user`, so a
/// flapping interface can still be reopened.
pub(super) fn drop_privileges(user: &str) -> Result<(), DaemonError> {
    use caps::{CapSet, Capability, CapsHashSet};
    use nix::unistd::{setgid, setgroups, setuid, User};
    let err = |message: String| DaemonError::User {
        user: user.to_string(),
        message,
    };
    let u = User::from_name(user)
        .map_err(|e| err(e.to_string()))?
        .ok_or_else(|| err("no such user".into()))?;
    nix::sys::prctl::set_keepcaps(true).map_err(|e| err(format!("PR_SET_KEEPCAPS: {e}")))?;
    setgroups(&[u.gid]).map_err(|e| err(format!("setgroups: {e}")))?;
    setgid(u.gid).map_err(|e| err(format!("setgid: {e}")))?;
    setuid(u.uid).map_err(|e| err(format!("setuid: {e}")))?;
    let keep: CapsHashSet = [Capability::CAP_NET_RAW, Capability::CAP_NET_ADMIN]
        .into_iter()
        .collect();
    caps::set(None, CapSet::Permitted, &keep).map_err(|e| err(format!("capabilities: {e}")))?;
    caps::set(None, CapSet::Effective, &keep).map_err(|e| err(format!("capabilities: {e}")))?;
    caps::set(None, CapSet::Inheritable, &CapsHashSet::new())
        .map_err(|e| err(format!("capabilities: {e}")))?;
    Ok(())
}

/// Where state lives: the command line's, systemd's `StateDirectory=`,
/// then the config's.
pub(super) fn state_dir(opts: &DaemonOptions, config: &Config) -> PathBuf {
    if let Some(d) = &opts.state_dir {
        return d.clone();
    }
    // systemd's StateDirectory= sets $STATE_DIRECTORY.
    if let Some(d) = std::env::var_os("STATE_DIRECTORY") {
        if let Some(first) = std::env::split_paths(&d).next() {
            return first;
        }
    }
    config.state_dir.clone()
}

/// The config at `path`, refused if it cannot run a daemon.
pub(super) fn load(path: &Path) -> Result<Config, DaemonError> {
    let config = Config::load(path)?;
    config
        .check_daemon()
        .map_err(|message| DaemonError::NotForDaemon {
            path: path.to_path_buf(),
            message,
        })?;
    Ok(config)
}
