//! Private keys addressed by URI and stored in files only their owner can read.
//!
//! A key is named by a URI so that the same configuration field can later point at a
//! secure element (`ecc://…`) instead of a file. Today `file:///absolute/path` (or a plain
//! path) is supported. Key files are created with mode 0600 and refused when group or
//! others can read them, the way `ssh` refuses a private key it considers exposed.

use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use zeroize::Zeroizing;

use crate::keys::{Keypair, PublicKey, Signer};

const HEADER: &str = "# Cairn Ed25519 secret key. Anyone who reads this file can sign as this key.";
/// A key file is a few short lines; anything larger is not one of ours.
const MAX_KEY_FILE_LEN: u64 = 4096;

/// Where a private key lives.
#[derive(Clone, PartialEq, Eq)]
pub enum KeyUri {
    /// A key file on the local file system.
    File(PathBuf),
}

/// Why a key could not be created or loaded.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("unsupported key URI {0:?}: use file:///absolute/path or a plain path")]
    UnsupportedUri(String),
    #[error(
        "key file {path} is readable by group or others (mode {mode:04o}); \
         a private key must be private: run `chmod 600 {path}` and try again"
    )]
    TooOpen { path: String, mode: u32 },
    #[error("key file {path} already exists; refusing to overwrite a key")]
    Exists { path: String },
    #[error("key file {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("key file {path} is not a Cairn key file: {reason}")]
    Format { path: String, reason: String },
}

impl KeyUri {
    pub fn parse(s: &str) -> Result<Self, KeyError> {
        if let Some(rest) = s.strip_prefix("file://") {
            if !rest.starts_with('/') {
                return Err(KeyError::UnsupportedUri(s.to_owned()));
            }
            return Ok(KeyUri::File(PathBuf::from(rest)));
        }
        if s.is_empty() || s.contains("://") {
            return Err(KeyError::UnsupportedUri(s.to_owned()));
        }
        Ok(KeyUri::File(PathBuf::from(s)))
    }

    /// Create a new random key at this location and return its public key.
    pub fn generate(&self) -> Result<PublicKey, KeyError> {
        let KeyUri::File(path) = self;
        let keypair = Keypair::generate();
        write_key_file(path, &keypair)?;
        Ok(keypair.public())
    }

    /// Load the key pair itself (for a validator, whose engine needs the seed).
    pub fn load_keypair(&self) -> Result<Keypair, KeyError> {
        let KeyUri::File(path) = self;
        read_key_file(path)
    }

    /// Load the key for signing.
    pub fn load(&self) -> Result<Box<dyn Signer>, KeyError> {
        let KeyUri::File(path) = self;
        Ok(Box::new(read_key_file(path)?))
    }
}

impl FromStr for KeyUri {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        KeyUri::parse(s)
    }
}

impl fmt::Display for KeyUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyUri::File(p) if p.is_absolute() => write!(f, "file://{}", p.display()),
            KeyUri::File(p) => write!(f, "{}", p.display()),
        }
    }
}

impl fmt::Debug for KeyUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyUri({self})")
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> KeyError + '_ {
    move |source| KeyError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Write a new key file with mode 0600, refusing to replace an existing file.
pub fn write_key_file(path: &Path, keypair: &Keypair) -> Result<(), KeyError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).map_err(io_err(dir))?;
    }
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                KeyError::Exists {
                    path: path.display().to_string(),
                }
            } else {
                io_err(path)(e)
            }
        })?;
    let body = Zeroizing::new(format!(
        "{HEADER}\npublic = {}\nsecret = {}\n",
        keypair.public(),
        hex::encode(keypair.seed().as_ref())
    ));
    file.write_all(body.as_bytes()).map_err(io_err(path))?;
    file.sync_all().map_err(io_err(path))?;
    Ok(())
}

/// Read a key file, refusing it if group or others can read or write it.
pub fn read_key_file(path: &Path) -> Result<Keypair, KeyError> {
    let meta = fs::metadata(path).map_err(io_err(path))?;
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(KeyError::TooOpen {
            path: path.display().to_string(),
            mode,
        });
    }
    let format = |reason: &str| KeyError::Format {
        path: path.display().to_string(),
        reason: reason.to_owned(),
    };
    if meta.len() > MAX_KEY_FILE_LEN {
        return Err(format("file is larger than 4 KiB"));
    }
    let text = Zeroizing::new(fs::read_to_string(path).map_err(io_err(path))?);
    let mut public = None;
    let mut secret = None;
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match line.split_once('=').map(|(k, v)| (k.trim(), v.trim())) {
            Some(("public", v)) => public = Some(v.to_owned()),
            Some(("secret", v)) => secret = Some(Zeroizing::new(v.to_owned())),
            _ => {
                return Err(format(
                    "expected lines `public = did:key:…` and `secret = <hex>`",
                ));
            }
        }
    }
    let secret = secret.ok_or_else(|| format("no `secret = …` line"))?;
    let mut seed = Zeroizing::new([0u8; 32]);
    hex::decode_to_slice(secret.as_bytes(), seed.as_mut())
        .map_err(|_| format("the secret must be 64 hex digits"))?;
    let keypair = Keypair::from_seed(&seed);
    if let Some(public) = public
        && public != keypair.public().to_did()
    {
        return Err(format("the public key does not match the secret"));
    }
    Ok(keypair)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_private_and_loads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/device.key");
        let uri = KeyUri::parse(&format!("file://{}", path.display())).unwrap();
        let public = uri.generate().unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(uri.load().unwrap().public_key(), public);
        // Never overwritten.
        assert!(matches!(uri.generate(), Err(KeyError::Exists { .. })));
        // The file never contains the secret in a form other than the documented one,
        // and Debug output hides it.
        let kp = read_key_file(&path).unwrap();
        assert!(!format!("{kp:?}").contains(&hex::encode(kp.seed().as_ref())));
    }

    #[test]
    fn refuses_readable_key_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("owner.key");
        let uri = KeyUri::File(path.clone());
        uri.generate().unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let err = uri.load().err().expect("a 0644 key file must be refused");
        let msg = err.to_string();
        assert!(msg.contains("mode 0644"), "{msg}");
        assert!(
            msg.contains(&format!("chmod 600 {}", path.display())),
            "{msg}"
        );
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        assert!(uri.load().is_ok());
    }

    #[test]
    fn uri_forms() {
        assert_eq!(
            KeyUri::parse("file:///var/lib/cairn/k.key").unwrap(),
            KeyUri::File("/var/lib/cairn/k.key".into())
        );
        assert_eq!(
            KeyUri::parse("rel/k.key").unwrap(),
            KeyUri::File("rel/k.key".into())
        );
        for bad in ["ecc://slot0", "file://relative", ""] {
            let err = KeyUri::parse(bad).unwrap_err().to_string();
            assert!(err.contains("unsupported key URI"), "{err}");
        }
    }

    #[test]
    fn rejects_mismatched_public_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.key");
        let a = Keypair::generate();
        let b = Keypair::generate();
        let body = format!(
            "public = {}\nsecret = {}\n",
            b.public(),
            hex::encode(a.seed().as_ref())
        );
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .unwrap();
        f.write_all(body.as_bytes()).unwrap();
        let err = read_key_file(&path).err().unwrap().to_string();
        assert!(err.contains("does not match"), "{err}");
    }
}
