//! Stores for wallet tests: the real OS keystore (Linux keyutils) and a fault-injecting wrapper.
#![allow(dead_code)]

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use paycode_core::vault::KeyringStore;
use paycode_core::{SecretStore, StoreError};

/// A fresh namespace per test, so parallel tests and reruns never share entries.
pub fn namespace(test: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "test-{}-{}-{}",
        test,
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

pub fn keyring() -> KeyringStore {
    KeyringStore::new("paycode-tests").expect("the Linux keyutils keystore is available")
}

/// Wraps a real store; the `fail_at`-th mutating call (put or delete, counted from 0) and every
/// later one fail, modelling a crash or keystore failure at that point. Can also fail reads
/// with `Locked`.
pub struct FaultyStore<S> {
    pub inner: S,
    pub mutations: AtomicUsize,
    pub fail_at: Mutex<Option<usize>>,
    pub locked: Mutex<bool>,
}

impl<S: SecretStore> FaultyStore<S> {
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            mutations: AtomicUsize::new(0),
            fail_at: Mutex::new(None),
            locked: Mutex::new(false),
        }
    }

    pub fn fail_from(&self, index: Option<usize>) {
        self.mutations.store(0, Ordering::SeqCst);
        *self.fail_at.lock().unwrap() = index;
    }

    fn check(&self) -> Result<(), StoreError> {
        if *self.locked.lock().unwrap() {
            return Err(StoreError::Locked);
        }
        let n = self.mutations.fetch_add(1, Ordering::SeqCst);
        match *self.fail_at.lock().unwrap() {
            Some(at) if n >= at => Err(StoreError::Unavailable(format!("injected failure at write {n}"))),
            _ => Ok(()),
        }
    }
}

impl<S: SecretStore> SecretStore for FaultyStore<S> {
    fn put(&self, name: &str, value: &[u8]) -> Result<(), StoreError> {
        self.check()?;
        self.inner.put(name, value)
    }
    fn get(&self, name: &str) -> Result<Vec<u8>, StoreError> {
        if *self.locked.lock().unwrap() {
            return Err(StoreError::Locked);
        }
        self.inner.get(name)
    }
    fn delete(&self, name: &str) -> Result<(), StoreError> {
        self.check()?;
        self.inner.delete(name)
    }
}
