//! `hub:plugin/files`: the target's FTP or SFTP directory.

use super::super::bindings::hub::plugin::files::{Entry, Host};
use super::super::bindings::hub::plugin::types;
use super::super::grants::Capability;
use super::super::state::CallState;
use super::{check_relative, check_size, to_wit};
use crate::transports::{FileEntry, FileTransport, TransportError};

type WitResult<T> = wasmtime::Result<Result<T, types::TransportError>>;

impl CallState {
    /// Grant, path and transport checks shared by every file operation.
    fn file_transport(
        &mut self,
        function: &str,
        paths: &[&str],
    ) -> wasmtime::Result<Result<std::sync::Arc<dyn FileTransport>, TransportError>> {
        if let Err(denied) = self.gate(Capability::Files, function)? {
            return Ok(Err(denied));
        }
        if let Some(error) = paths.iter().find_map(|path| check_relative(path).err()) {
            return Ok(Err(error));
        }
        Ok(self
            .target
            .transports
            .files
            .clone()
            .ok_or_else(|| TransportError::Denied(format!("target `{}` has no file server", self.target.name))))
    }
}

impl Host for CallState {
    async fn put(&mut self, path: String, contents: Vec<u8>) -> WitResult<()> {
        let limit = self.limits.max_message_bytes();
        let result = match self.file_transport("files.put", &[&path])? {
            Ok(transport) => match check_size(contents.len(), limit) {
                Ok(()) => transport.put(&path, contents).await,
                Err(error) => Err(error),
            },
            Err(error) => Err(error),
        };
        Ok(to_wit(result))
    }

    async fn get(&mut self, path: String) -> WitResult<Vec<u8>> {
        let limit = self.limits.max_message_bytes();
        let result = match self.file_transport("files.get", &[&path])? {
            Ok(transport) => transport.get(&path).await.and_then(|contents| {
                check_size(contents.len(), limit)?;
                Ok(contents)
            }),
            Err(error) => Err(error),
        };
        Ok(to_wit(result))
    }

    async fn list(&mut self, directory: String) -> WitResult<Vec<Entry>> {
        let result = match self.file_transport("files.list", &[&directory])? {
            Ok(transport) => transport.list(&directory).await,
            Err(error) => Err(error),
        };
        let result: Result<Vec<Entry>, TransportError> =
            result.map(|entries| entries.into_iter().map(Entry::from).collect());
        Ok(to_wit(result))
    }

    async fn rename(&mut self, from: String, to: String) -> WitResult<()> {
        let result = match self.file_transport("files.rename", &[&from, &to])? {
            Ok(transport) => transport.rename(&from, &to).await,
            Err(error) => Err(error),
        };
        Ok(to_wit(result))
    }

    async fn remove(&mut self, path: String) -> WitResult<()> {
        let result = match self.file_transport("files.remove", &[&path])? {
            Ok(transport) => transport.remove(&path).await,
            Err(error) => Err(error),
        };
        Ok(to_wit(result))
    }
}

impl From<FileEntry> for Entry {
    fn from(entry: FileEntry) -> Self {
        Entry {
            name: entry.name,
            size: entry.size,
            modified: entry.modified,
        }
    }
}
