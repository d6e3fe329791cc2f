//! The hub's reference data (service items, village directory, calendars): one type and one
//! cache, read by the sync engine's checks, the console's pages and the public pages alike.
//!
//! The invalidation rule, the only one: an entry is reused for at most [`TTL`]; after that the
//! stored copy is read again and replaces the entry when its version differs (the same version
//! keeps the entry, and with it the built calendar). Loading new reference data through this
//! hub calls [`ReferenceCache::forget`], so this hub's next request reads it at once; any other
//! hub instance on the same storage sees it within [`TTL`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use bianmin_document::Reference;
use bianmin_domain::WorkingCalendar;
use bianmin_protocol::ReferenceData;

use crate::error::AppError;
use crate::storage::Storage;

/// How long an entry is reused before the stored version is checked.
pub const TTL: Duration = Duration::from_secs(2);

/// The reference data in force: as stored and sent to tablets (`data`, with its version and
/// names), and as the rules take it (`rules`, with the calendar built).
#[derive(Debug)]
pub struct Current {
    /// As stored and sent to the tablets.
    pub data: ReferenceData,
    /// As the document checks and deadlines take it.
    pub rules: Reference,
}

impl Current {
    pub(crate) fn new(data: ReferenceData) -> Current {
        let rules = Reference {
            catalog: data.catalog.clone(),
            directory: data.directory.clone(),
            calendar: WorkingCalendar::new(data.calendars.clone()),
        };
        Current { data, rules }
    }

    /// `materials` of the service item `item_code` as they read in Chinese (`zh`) or English:
    /// the catalog's Chinese names where it gives them, else the names requests record.
    pub fn material_labels(&self, item_code: &str, materials: &[String], zh: bool) -> Vec<String> {
        let item = self.data.catalog.item(item_code);
        materials
            .iter()
            .map(|m| {
                item.map_or(m.as_str(), |i| i.material_label(m, zh))
                    .to_string()
            })
            .collect()
    }
}

/// The entry and when it was last read from storage (`None` once forgotten: read again, but
/// kept so that the same version keeps its built calendar).
type Slot = Option<(Option<Instant>, Arc<Current>)>;

/// The one cache of [`Current`] reference data.
pub struct ReferenceCache {
    storage: Arc<dyn Storage>,
    slot: RwLock<Slot>,
    /// Set when a newer version brought other calendars (deadlines moved).
    calendar_changed: AtomicBool,
}

impl std::fmt::Debug for ReferenceCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReferenceCache").finish_non_exhaustive()
    }
}

impl ReferenceCache {
    /// An empty cache over `storage`.
    pub fn new(storage: Arc<dyn Storage>) -> ReferenceCache {
        ReferenceCache {
            storage,
            slot: RwLock::new(None),
            calendar_changed: AtomicBool::new(false),
        }
    }

    /// The reference data in force, at most [`TTL`] old. Blocking (it may read storage): call
    /// it off the async workers. `503 no_reference_data` until an administrator loaded some.
    pub fn get(&self) -> Result<Arc<Current>, AppError> {
        if let Some((Some(at), current)) = self.read().as_ref()
            && at.elapsed() < TTL
        {
            return Ok(current.clone());
        }
        let data = self.storage.reference()?.ok_or_else(|| {
            AppError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "no_reference_data",
                "the hub has no catalog and village directory yet: an administrator must load them",
            )
        })?;
        let mut slot = self.slot.write().unwrap_or_else(PoisonError::into_inner);
        let current = match slot.take() {
            Some((_, kept)) if kept.data.version == data.version => kept,
            previous => {
                if previous.is_some_and(|(_, p)| p.data.calendars != data.calendars) {
                    self.calendar_changed.store(true, Ordering::SeqCst);
                }
                Arc::new(Current::new(data))
            }
        };
        *slot = Some((Some(Instant::now()), current.clone()));
        Ok(current)
    }

    /// Marks the entry stale, so that the next [`ReferenceCache::get`] reads storage (after new
    /// reference data was loaded through this hub).
    pub fn forget(&self) {
        if let Some((at, _)) = self
            .slot
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .as_mut()
        {
            *at = None;
        }
    }

    /// Whether a newer version brought other calendars since the last call.
    pub fn take_calendar_changed(&self) -> bool {
        self.calendar_changed.swap(false, Ordering::SeqCst)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Slot> {
        self.slot.read().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::sqlite::SqliteStorage;
    use bianmin_domain::demo;

    #[test]
    fn one_rule_reuse_within_the_ttl_replace_on_a_new_version_and_tell_a_moved_calendar() {
        let root = tempfile::tempdir().unwrap();
        let storage: Arc<dyn Storage> = Arc::new(SqliteStorage::open(root.path()).unwrap());
        let cache = ReferenceCache::new(storage.clone());
        assert_eq!(cache.get().unwrap_err().code, "no_reference_data");
        storage
            .set_reference(Some(&demo::catalog()), Some(&demo::directory()), None)
            .unwrap();
        let first = cache.get().unwrap();
        assert!(
            Arc::ptr_eq(&first, &cache.get().unwrap()),
            "reused within the TTL"
        );
        cache.forget();
        assert!(
            Arc::ptr_eq(&first, &cache.get().unwrap()),
            "the same version keeps its entry"
        );
        crate::admin::load_calendar(storage.as_ref(), demo::CALENDAR_2026_JSON).unwrap();
        assert!(
            Arc::ptr_eq(&first, &cache.get().unwrap()),
            "not before the TTL or forget"
        );
        cache.forget();
        let second = cache.get().unwrap();
        assert!(second.data.version > first.data.version);
        assert!(cache.take_calendar_changed(), "the calendar moved");
        assert!(!cache.take_calendar_changed(), "told once");
    }
}
