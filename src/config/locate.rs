//! Where the config file is when none is named: the places looked in, in order, and the
//! error that lists them all when none holds one.

use std::path::{Path, PathBuf};

use super::ConfigError;

/// The places a config file is looked for when neither `-c` nor `FEEDMERGE_CONFIG` names
/// one, in order: the repository's layout and the working directory, then the user's and
/// the system's config folders.
pub(crate) fn default_places() -> Vec<PathBuf> {
    let mut places = vec![
        PathBuf::from(super::DEFAULT_PATH),
        PathBuf::from("feedmerge.toml"),
    ];
    let user = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".config")));
    if let Some(user) = user {
        places.push(user.join("feedmerge/feedmerge.toml"));
    }
    places.push(PathBuf::from("/etc/feedmerge/feedmerge.toml"));
    places
}

/// The config file to read: `named` if the command line or the environment named one,
/// otherwise the first of [`default_places`] that exists, or an error listing them all.
pub fn locate(named: Option<PathBuf>) -> Result<PathBuf, ConfigError> {
    if let Some(named) = named {
        return Ok(named);
    }
    let places = default_places();
    match places.iter().find(|p| p.is_file()) {
        Some(found) => Ok(found.clone()),
        None => Err(ConfigError::NotFound {
            looked: places.iter().map(|p| absolute(p)).collect(),
        }),
    }
}

/// `path` as the user would find it: relative paths joined to the working directory.
pub(crate) fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_owned())
}
